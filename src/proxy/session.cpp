#include "proxy/session.h"

#include "observe/request_id.h"
#include "phase/context.h"
#include "proxy/forwarder.h"
#include "proxy/message_checks.h"
#include "proxy/relay.h"
#include "proxy/worker.h"

namespace bulwark::proxy {
namespace {

// After an error answer the gateway reads (and drops) what the client still
// sends for a moment before closing, so the answer is not destroyed by a TCP
// reset (RFC 9112 §9.6, nginx's lingering_close).
constexpr auto lingering_time = std::chrono::seconds(2);
constexpr std::size_t lingering_bytes = 1024 * 1024;

std::vector<std::string_view> field_values(const head_fields& fields, http::field name) {
  std::vector<std::string_view> values;
  for (const auto& field : fields) {
    if (field.name() == name) values.push_back(field.value());
  }
  return values;
}

local_response parse_failure(const error_code& ec, std::string_view request_id) {
  if (ec == http::error::body_limit) {
    return problem(413, "request body exceeds max_body_bytes", request_id);
  }
  if (ec == http::error::header_limit) {
    return problem(431, "request header section exceeds max_header_bytes", request_id);
  }
  return problem(400, "malformed request: " + ec.message(), request_id);
}

}  // namespace

awaitable<void> serve_connection(worker& owner, tcp_socket socket,
                                 std::shared_ptr<const config::listener> settings,
                                 connection_slot slot) {
  session connection(owner, std::move(socket), std::move(settings), std::move(slot));
  co_await connection.run();
}

session::session(worker& owner, tcp_socket socket,
                 std::shared_ptr<const config::listener> settings, connection_slot slot)
    : worker_(owner),
      stream_(std::move(socket)),
      slot_(std::move(slot)),
      settings_(std::move(settings)),
      limits_(settings_->limits),
      connected_at_(steady_now()) {
  error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  worker_.add_session(this);
}

session::~session() { worker_.remove_session(this); }

void session::close_if_idle() {
  if (!idle_) return;
  error_code ignored;
  stream_.socket().shutdown(tcp_socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
}

awaitable<void> session::run() {
  for (bool keep_alive = true; keep_alive && !worker_.draining();) {
    std::optional<request_parser> parser;
    std::optional<local_response> failure;
    std::size_t length = 0;
    auto status = co_await receive_header_section(length, failure);
    if (status == read_status::ready && !parse_header(length, parser, failure)) {
      status = read_status::failed;
    }
    if (status == read_status::closed) break;
    if (status == read_status::failed) {
      co_await refuse(*failure);
      co_return;
    }
    // The request's state lives in this (per-connection) frame: a coroutine
    // of its own would cost a frame per request.
    const auto snapshot = worker_.snapshot();  // held until this request is done
    request_context ctx{.config = snapshot->phases->config(),
                        .listener = *settings_,
                        .request = parser->get(),
                        .client_ip = slot_.client_ip(),
                        .start = request_started_,
                        .thread = slot_.thread()};
    forward_result outcome;
    keep_alive = co_await respond(*parser, *snapshot, ctx, outcome);
    account(*snapshot->phases, ctx, outcome);
    first_request_ = false;
  }
  error_code ignored;
  stream_.socket().shutdown(tcp_socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
}

// Answers a request that could not be read (malformed, too large, too
// slow), logs it, and closes the connection.
awaitable<void> session::refuse(const local_response& failure) {
  co_await write_local(failure, {}, false, false);
  auto record = finish(*worker_.snapshot()->phases, nullptr, failure.status, request_started_);
  if (record) {
    record->request_id = failure.request_id;
    record->bytes_out = failure.body.size();
    record->error = error_source::client;
    worker_.access_log().write(slot_.thread(), *record);
  }
  co_await lingering_close();
}

// header_timeout runs from the connection's start for its first request and
// from the first byte of each later one; before that first byte a kept-alive
// connection may wait idle_timeout (DESIGN.md §4, as nginx's
// client_header_timeout and keepalive_timeout).
awaitable<session::read_status> session::receive_header_section(
    std::size_t& length, std::optional<local_response>& failure) {
  std::optional<core::time_point> header_deadline;
  request_started_ = connected_at_;
  if (first_request_) header_deadline = connected_at_ + limits_.header_timeout;
  header_section_scanner scanner;
  for (;;) {
    if (const auto skip = leading_empty_lines({static_cast<const char*>(buffer_.data().data()),
                                               buffer_.size()})) {
      buffer_.consume(skip);
      scanner = {};
    }
    if (buffer_.size() > 0 && !header_deadline) {
      request_started_ = steady_now();
      header_deadline = request_started_ + limits_.header_timeout;
    }
    const std::string_view received{static_cast<const char*>(buffer_.data().data()),
                                    buffer_.size()};
    switch (scanner.scan(received)) {
      case header_section_scanner::state::complete:
        length = scanner.length();
        co_return read_status::ready;
      case header_section_scanner::state::invalid:
        failure = problem(400, "bare LF in the request header section", observe::make_request_id());
        co_return read_status::failed;
      case header_section_scanner::state::incomplete:
        break;
    }
    if (buffer_.size() >= limits_.max_header_bytes) {
      failure = problem(431, "request header section exceeds max_header_bytes",
                        observe::make_request_id());
      co_return read_status::failed;
    }
    idle_ = buffer_.size() == 0;
    if (idle_ && worker_.draining()) co_return read_status::closed;
    stream_.expires_at(to_asio(header_deadline.value_or(steady_now() + limits_.idle_timeout)));
    const std::size_t room = std::max<std::size_t>(
        512, std::min<std::size_t>(8192, limits_.max_header_bytes - buffer_.size()));
    auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(room), use_nothrow);
    idle_ = false;
    buffer_.commit(n);
    if (ec == beast::error::timeout && header_deadline && buffer_.size() > 0) {
      failure = problem(408, "timed out reading the request header", observe::make_request_id());
      co_return read_status::failed;
    }
    if (ec) co_return read_status::closed;  // closed, reset, or quiet for idle_timeout
  }
}

bool session::parse_header(std::size_t length, std::optional<request_parser>& parser,
                           std::optional<local_response>& failure) {
  const std::string_view section{static_cast<const char*>(buffer_.data().data()), length};
  if (const auto wrong = check_header_section(section); !wrong.empty()) {
    failure = problem(400, "malformed request: " + std::string(wrong), observe::make_request_id());
    return false;
  }
  parser.emplace();
  parser->header_limit(static_cast<std::uint32_t>(length + 1));
  parser->body_limit(limits_.max_body_bytes);
  error_code ec;
  parser->put(net::buffer(section.data(), section.size()), ec);
  if (!ec && !parser->is_header_done()) ec = http::error::partial_message;
  if (ec) {
    failure = parse_failure(ec, observe::make_request_id());
    return false;
  }
  buffer_.consume(length);
  const auto& request = parser->get();
  const auto framing =
      check_request_framing(field_values(request, http::field::content_length),
                            field_values(request, http::field::transfer_encoding),
                            request.version());
  if (!framing.empty()) {
    failure = problem(400, "malformed request: " + std::string(framing), observe::make_request_id());
    return false;
  }
  return true;
}

// Metrics and the access-log record of a request. Not in run(): the record
// would enlarge the connection's coroutine frame.
void session::account(const pipeline& phases, const request_context& ctx,
                      const forward_result& outcome) {
  auto record = finish(phases, ctx.route, outcome.status, ctx.start);
  if (!record) return;
  record->request_id = ctx.request_id;
  record->method = std::string(ctx.request.method_string());
  record->path = std::string(ctx.request.target());
  record->error = ctx.error;
  record->ratelimit = ctx.ratelimit;
  record->auth = ctx.auth;
  if (outcome.attempts > 0) {
    record->upstream = outcome.upstream;
    record->endpoint = outcome.endpoint;
    record->attempts = outcome.attempts;
  }
  if (outcome.upstream_ms) {
    record->upstream_time = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double, std::milli>(*outcome.upstream_ms));
  }
  record->bytes_in = outcome.bytes_in;
  record->bytes_out = outcome.bytes_out;
  worker_.access_log().write(slot_.thread(), *record);
}

// Runs the phases, then forwards; every path ends with one response written
// (or the connection dropped). Returns whether the connection stays open.
awaitable<bool> session::respond(request_parser& parser, const worker_snapshot& snapshot,
                                 request_context& ctx, forward_result& outcome) {
  const bool head_request = parser.get().method() == http::verb::head;
  const bool wants_keep_alive = parser.keep_alive() && !worker_.draining();
  if (slot_.listener().shedding()) {
    slot_.metrics().reject(slot_.thread(), observe::rejection_reason::shed);
    ctx.request_id = make_request_id(ctx.texts);
    ctx.answer = problem_retry_after(503, "gateway is shedding load", ctx.request_id, 1);
    ctx.error = error_source::gateway;
    const bool kept = co_await answer(*ctx.answer, ctx.request_id, head_request, false, outcome);
    co_return kept;
  }
  const auto& phases = *snapshot.phases;
  std::size_t next_phase = 0;
  auto decided = phases.run_request_phases(ctx, next_phase);
  while (decided == phase_result::wait) decided = co_await phases.finish_waiting_phase(ctx, next_phase);
  if (decided == phase_result::respond) {
    const bool keep = wants_keep_alive && parser.is_done();
    const bool kept = co_await answer(*ctx.answer, ctx.request_id, head_request, keep, outcome);
    co_return kept;
  }
  client_side client{stream_, buffer_, parser, head_, limits_.idle_timeout, wants_keep_alive};
  outcome = co_await forward(ctx, client, *snapshot.pools[ctx.route->upstream_index], phases);
  if (!outcome.answer) co_return outcome.client_reusable;
  const bool keep = wants_keep_alive && outcome.client_reusable && parser.is_done();
  local_response made = std::move(*outcome.answer);
  // Fields every response to this request carries (RateLimit, say), the
  // gateway's own answers included.
  for (const auto& [name, value] : ctx.response_headers) made.headers.emplace_back(name, value);
  const bool kept = co_await answer(made, ctx.request_id, head_request, keep, outcome);
  if (!parser.is_done()) co_await lingering_close();
  co_return kept;
}

// Writes a response the gateway made itself and notes it in `outcome`.
awaitable<bool> session::answer(const local_response& response, std::string_view request_id,
                                bool head_request, bool keep_alive, forward_result& outcome) {
  outcome.status = response.status;
  outcome.bytes_out = head_request ? 0 : response.body.size();
  const bool kept = co_await write_local(response, request_id, head_request, keep_alive);
  co_return kept;
}

// Accounts for a finished request in the metrics; returns the start of its
// access-log record when the access log is on (the caller adds what it knows).
std::optional<observe::access_record> session::finish(const pipeline& phases,
                                                      const config::route* route, unsigned status,
                                                      core::time_point start) {
  if (listener_index_for_ != &phases) {
    listener_index_ = phases.listener_index(settings_->name);
    listener_index_for_ = &phases;
  }
  const auto& routes = phases.config().routes;
  const std::size_t route_index =
      route == nullptr ? pipeline::no_route : static_cast<std::size_t>(route - routes.data());
  const auto duration = steady_now() - start;
  if (const auto* metrics = phases.route_metrics(listener_index_, route_index)) {
    metrics->record(slot_.thread(), static_cast<int>(status),
                    std::chrono::duration<double>(duration).count());
  }
  if (!worker_.access_log().enabled()) return std::nullopt;
  observe::access_record record;
  record.finished = std::chrono::system_clock::now();
  record.client_ip = slot_.client_ip();
  if (route != nullptr) record.route = route->name;
  record.status = static_cast<uint16_t>(status);
  record.duration = duration;
  return record;
}

// Writes a response the gateway made itself. Returns whether the connection
// stays open for another request.
awaitable<bool> session::write_local(const local_response& answer, std::string_view request_id,
                                     bool head_request, bool keep_alive) {
  http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
  response.set(http::field::content_type, answer.content_type);
  for (const auto& [name, value] : answer.headers) response.insert(name, value);
  if (request_id.empty()) request_id = answer.request_id;
  if (!request_id.empty()) {
    response.set(request_id_header(), request_id);
  }
  keep_alive = keep_alive && !answer.close_connection;
  response.keep_alive(keep_alive);
  if (head_request) {
    response.content_length(answer.body.size());
  } else {
    response.body() = answer.body;
    response.prepare_payload();
  }
  stream_.expires_after(limits_.idle_timeout);
  auto [ec, n] = co_await http::async_write(stream_, response, use_nothrow);
  co_return keep_alive && !ec;
}

const std::string& session::request_id_header() const {
  return worker_.snapshot()->phases->config().observe.request_id_header;
}

awaitable<void> session::lingering_close() {
  error_code ec;
  stream_.socket().shutdown(tcp_socket::shutdown_send, ec);
  const auto until = steady_now() + lingering_time;
  std::size_t drained = 0;
  std::array<char, 4096> sink;
  while (!ec && drained < lingering_bytes && steady_now() < until) {
    buffer_.clear();
    stream_.expires_at(to_asio(until));
    auto [read_ec, n] = co_await stream_.async_read_some(net::buffer(sink), use_nothrow);
    ec = read_ec;
    drained += n;
  }
  stream_.socket().close(ec);
}

}  // namespace bulwark::proxy
