#include "admin/admin_server.h"

#include "admin/keys_api.h"

#include "http/problem.h"
#include "observe/log.h"
#include "observe/prometheus.h"
#include "proxy/acceptor.h"
#include "proxy/deadline_stream.h"

namespace bulwark::admin {
namespace {

using nlohmann::json;
namespace beast = http::beast;
using http::use_nothrow;

constexpr auto admin_io_timeout = std::chrono::seconds(10);
constexpr std::size_t admin_body_limit = 64 * 1024;

admin_response json_response(unsigned status, const json& body) {
  return {status, "application/json", body.dump() + "\n"};
}

admin_response problem_response(unsigned status, std::string_view detail) {
  auto problem = http::problem(status, detail, "");
  return {status, problem.content_type, problem.body};
}

// Equal-time comparison: the time taken does not depend on where the first
// difference is, so a token cannot be guessed byte by byte.
bool constant_time_equals(std::string_view a, std::string_view b) {
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= x ^ y;
  }
  return difference == 0;
}

}  // namespace

admin_server::admin_server(net::io_context& io, proxy::gateway& gateway, std::string token)
    : io_(io), gateway_(gateway), token_(std::move(token)), acceptor_(io) {}

bool admin_server::start(const config::address& bind) {
  http::error_code ec;
  const auto address = net::ip::make_address(bind.host, ec);
  std::optional<http::tcp_acceptor> bound;
  if (!ec) {
    bound = proxy::bind_acceptor(io_, {address, bind.port}, proxy::port_sharing::exclusive, ec);
  }
  if (!bound) {
    observe::log(observe::log_level::error, "cannot bind the admin server",
                 {{"address", bind.text()}, {"error", ec.message()}});
    return false;
  }
  acceptor_ = std::move(*bound);
  const auto local = acceptor_.local_endpoint();
  observe::log(observe::log_level::info, "admin listening",
               {{"address", http::endpoint_text(local)}});
  net::co_spawn(io_, accept_loop(), net::detached);
  return true;
}

bool admin_server::authorized(std::string_view authorization) const {
  if (token_.empty()) return true;
  constexpr std::string_view scheme = "Bearer ";
  if (authorization.size() < scheme.size() ||
      !beast::iequals(authorization.substr(0, scheme.size()), scheme)) {
    return false;
  }
  return constant_time_equals(authorization.substr(scheme.size()), token_);
}

admin_response admin_server::handle(std::string_view method, std::string_view target,
                                     std::string_view authorization, std::string_view body) {
  const auto path = target.substr(0, target.find('?'));
  if (path == "/health/live") {
    return method == "GET" ? json_response(200, {{"status", "live"}})
                           : problem_response(405, "use GET");
  }
  if (path == "/metrics") {
    if (method != "GET") return problem_response(405, "use GET");
    return {200, std::string(observe::prometheus_content_type), gateway_.metrics_text()};
  }
  if (path == "/health/ready") {
    if (method != "GET") return problem_response(405, "use GET");
    const auto reasons = gateway_.not_ready_reasons();
    if (reasons.empty()) return json_response(200, {{"status", "ready"}});
    return json_response(503, {{"status", "not ready"}, {"reasons", reasons}});
  }
  if (path.starts_with("/admin/")) {
    if (!authorized(authorization)) {
      return problem_response(401, "missing or invalid admin token");
    }
    if (path == "/admin/status") {
      return method == "GET" ? json_response(200, gateway_.status())
                             : problem_response(405, "use GET");
    }
    if (path == "/admin/keys" || path.starts_with("/admin/keys/")) {
      const auto running = gateway_.config();
      return handle_keys(method, path, body, running.get(), std::chrono::system_clock::now());
    }
    if (path == "/admin/reload") {
      if (method != "POST") return problem_response(405, "use POST");
      const auto result = gateway_.reload();
      if (result.ok) return json_response(200, {{"status", "reloaded"}, {"config_hash", result.hash}});
      return json_response(400, {{"status", "rejected"},
                                 {"errors", result.problems},
                                 {"config_hash", result.hash}});
    }
  }
  return problem_response(404, "no such admin endpoint");
}

http::awaitable<void> admin_server::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) continue;
    net::co_spawn(io_, serve(std::move(socket)), net::detached);
  }
}

http::awaitable<void> admin_server::serve(http::tcp_socket socket) {
  proxy::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    beast::http::request_parser<http::string_body> parser;
    parser.header_limit(16 * 1024);
    parser.body_limit(admin_body_limit);
    stream.expires_after(admin_io_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_nothrow);
    if (ec) break;
    const auto& request = parser.get();
    const auto answer = handle(request.method_string(), request.target(),
                               request[http::field::authorization], request.body());
    http::response<http::string_body> response{static_cast<http::status>(answer.status),
                                               request.version()};
    response.set(http::field::content_type, answer.content_type);
    if (answer.status == 401) response.set(http::field::www_authenticate, "Bearer realm=\"bulwark-admin\"");
    response.set(http::field::cache_control, "no-store");
    response.body() = answer.body;
    response.keep_alive(request.keep_alive());
    response.prepare_payload();
    auto [write_ec, written] = co_await http::async_write(stream, response, use_nothrow);
    if (write_ec || !response.keep_alive()) break;
  }
  http::error_code ignored;
  stream.socket().shutdown(http::tcp_socket::shutdown_send, ignored);
}

}  // namespace bulwark::admin
