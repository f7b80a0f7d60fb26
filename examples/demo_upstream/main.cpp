// demo-upstream: a small httpbin-like HTTP/1.1 server. It is the upstream of
// `make run`, of the integration tests and of the benchmark against nginx.
//
//   demo-upstream --listen 127.0.0.1:0 [--threads N] [--name NAME] [--health-file PATH]
//
// `GET /healthz` answers 200 "ok"; with --health-file, it answers 503 while
// PATH does not exist, so tests can fail an endpoint's health checks (and heal
// it) while every other path keeps working.
//
// prints exactly one line, `listening HOST:PORT` (the bound port), then serves
// until SIGTERM or SIGINT, which end it with exit code 0.
//
// Why it is built this way:
// - One io_context per thread, each with its own SO_REUSEPORT acceptor on the
//   same port: threads share nothing, as in bulwark itself.
// - Requests are read with the gateway's own parser (proxy/message_head.h:
//   Beast's tokenizer, the head kept flat) and responses are written as raw
//   bytes from a per-connection buffer whose capacity is kept between
//   requests, so `GET /` allocates little more than the coroutine frames, and
//   the streaming endpoints control their framing byte for byte. The demo is
//   the load side of the proxy benchmark, on the same CPU as wrk: what it
//   spends per request, and per header field the proxy adds, is taken from
//   the CPU the benchmark shares (bench/README.md).
// - Request and response bodies move in pieces of at most 64 KiB, so /bytes,
//   /echo and /drain handle a gigabyte in constant memory.
// - Nothing on the request path throws (use_nothrow completions); any I/O error
//   ends that connection only. Nothing is logged per request.
// - co_await appears only as a statement, an initializer or a whole `if`
//   condition on a bool. GCC 12 miscompiled `if (!co_await f())` with f
//   yielding std::optional inside a loop (a finished frame was resumed again:
//   SIGILL/SIGSEGV), so results of class type are first bound to a variable,
//   and co_await is kept out of && / || operands.
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http/net.h"
#include "http/strings.h"

namespace {

namespace asio = boost::asio;
using namespace bulwark::http;  // the gateway's Asio vocabulary (net.h) and request parser
namespace http = bulwark::http;

// Bounds on what a request may ask for; beyond them the answer is 400.
constexpr std::size_t piece_size = 64 * 1024;
constexpr std::uint32_t header_limit = 64 * 1024;
constexpr std::uint64_t max_stream_chunks = 1'000'000;
constexpr std::uint64_t max_delay_ms = 600'000;

constexpr std::string_view root_body =
    "Hello from demo-upstream, the httpbin-like upstream that bulwark's tests and benchmarks use.\n";

// /bytes/N sends byte i = byte_alphabet[i % 64]. piece_size is a multiple of
// 64, so every piece starts on the pattern and tests can check any offset.
constexpr std::string_view byte_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static_assert(byte_alphabet.size() == 64 && piece_size % 64 == 0);

struct options {
  tcp::endpoint endpoint;
  int threads = 1;
  std::string name;
  std::string health_file;  // empty: /healthz is always 200
};

const std::array<char, piece_size>& byte_pattern() {
  static const auto pattern = [] {
    std::array<char, piece_size> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = byte_alphabet[i % byte_alphabet.size()];
    return bytes;
  }();
  return pattern;
}

template <typename Integer>
std::optional<Integer> parse_number(std::string_view text, int base = 10) {
  Integer value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

template <typename Integer>
void append_number(std::string& out, Integer value, int base = 10) {
  std::array<char, 24> digits;
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value, base);
  out.append(digits.data(), end);
}

// JSON string contents. Bytes >= 0x80 (obs-text in header values) are escaped
// as Latin-1 code points so that the document stays valid UTF-8.
void append_json_escaped(std::string& out, std::string_view text) {
  constexpr std::string_view hex = "0123456789abcdef";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x80) {
      out += "\\u00";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
}

// Several pieces sent with one write (one syscall, one TCP segment if small).
template <typename... Pieces>
std::array<asio::const_buffer, sizeof...(Pieces)> gather(const Pieces&... pieces) {
  return {asio::buffer(std::string_view(pieces))...};
}

std::string_view reason_phrase(unsigned status) {
  std::string_view reason = http::obsolete_reason(static_cast<http::status>(status));
  return reason == "<unknown-status>" ? std::string_view{"Unknown"} : reason;
}

// One client connection: reads requests in order and answers each before
// reading the next (so pipelined requests are answered in order).
class connection {
 public:
  connection(tcp_socket socket, const options& opts)
      : socket_(std::move(socket)), name_(opts.name), health_file_(opts.health_file) {}

  awaitable<void> run() {
    for (;;) {
      parser_.emplace();
      parser_->header_limit(header_limit);
      parser_->body_limit(boost::none);
      auto [ec, _] = co_await http::async_read_header(socket_, buffer_, *parser_, use_nothrow);
      if (ec) {
        if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
            ec != http::error::end_of_stream && ec != http::error::partial_message) {
          co_await answer_bad_request(ec == http::error::header_limit ? 431 : 400);
        }
        co_return close();
      }
      const auto& request = parser_->get();
      keep_alive_ = parser_->keep_alive();
      http10_ = request.version() < 11;
      head_request_ = request.method() == http::verb::head;
      bool reusable = co_await dispatch(request.target());
      if (!reusable || !keep_alive_) co_return close();
    }
  }

 private:
  // Returns whether the connection can carry another request.
  awaitable<bool> dispatch(std::string_view target) {
    auto path = target.substr(0, target.find('?'));
    if (path == "/reset") co_return reset();
    if (!co_await maybe_continue()) co_return false;
    if (path == "/echo") co_return co_await echo();
    if (path == "/drain") co_return co_await drain();
    if (!co_await discard_body()) co_return false;
    if (path == "/") co_return co_await answer_text(200, root_body);
    if (path == "/healthz") co_return co_await healthz();
    if (path == "/headers") co_return co_await headers();
    if (auto n = number_after(path, "/bytes/")) co_return co_await bytes(*n);
    if (auto n = number_after(path, "/status/")) co_return co_await status(*n);
    if (auto n = number_after(path, "/delay/")) co_return co_await delay(*n);
    if (auto n = number_after(path, "/stream/")) co_return co_await stream(*n);
    if (is_numbered(path)) co_return co_await answer_text(400, "bad number in path\n");
    co_return co_await answer_text(404, "not found\n");
  }

  static std::optional<std::uint64_t> number_after(std::string_view path, std::string_view prefix) {
    if (!path.starts_with(prefix)) return std::nullopt;
    return parse_number<std::uint64_t>(path.substr(prefix.size()));
  }

  static bool is_numbered(std::string_view path) {
    for (auto prefix : {"/bytes/", "/status/", "/delay/", "/stream/"}) {
      if (path.starts_with(prefix)) return true;
    }
    return false;
  }

  // --- endpoints -------------------------------------------------------------

  awaitable<bool> bytes(std::uint64_t size) {
    start_head(200);
    add_header("Content-Type", "application/octet-stream");
    add_content_length(size);
    end_head();
    if (head_request_) co_return co_await write(asio::buffer(head_));
    const auto& pattern = byte_pattern();
    auto first = std::min<std::uint64_t>(size, piece_size);
    if (!co_await write(gather(head_, std::string_view(pattern.data(), first)))) co_return false;
    for (auto left = size - first; left > 0;) {
      auto n = std::min<std::uint64_t>(left, piece_size);
      if (!co_await write(asio::buffer(pattern.data(), n))) co_return false;
      left -= n;
    }
    co_return true;
  }

  awaitable<bool> healthz() {
    if (!health_file_.empty() && ::access(health_file_.c_str(), F_OK) != 0) {
      co_return co_await answer_text(503, "unhealthy\n");
    }
    co_return co_await answer_text(200, "ok");
  }

  awaitable<bool> status(std::uint64_t code) {
    if (code < 100 || code > 599) co_return co_await answer_text(400, "status must be in [100, 599]\n");
    auto status_code = static_cast<unsigned>(code);
    if (code < 200 || code == 204 || code == 304) {
      start_head(status_code);
      end_head();
      co_return co_await write(asio::buffer(head_));
    }
    body_ = "status ";
    append_number(body_, code);
    body_ += '\n';
    co_return co_await answer_text(status_code, body_);
  }

  awaitable<bool> delay(std::uint64_t ms) {
    if (ms > max_delay_ms) co_return co_await answer_text(400, "delay too long\n");
    steady_timer timer(socket_.get_executor(), std::chrono::milliseconds(ms));
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return false;
    body_ = "delayed ";
    append_number(body_, ms);
    body_ += " ms\n";
    co_return co_await answer_text(200, body_);
  }

  // Header names are lower-cased; repeated names are joined with ", " in the
  // order received, so tests see exactly which header lines arrived.
  awaitable<bool> headers() {
    const auto& request = parser_->get();
    body_ = "{\"headers\":{";
    bool first = true;
    for (auto field = request.begin(); field != request.end(); ++field) {
      if (request.find(field->name_string()) != field) continue;  // joined at its first line
      if (!first) body_ += ',';
      first = false;
      body_ += '"';
      for (char c : field->name_string()) body_ += ascii_lower(c);
      body_ += "\":\"";
      bool first_value = true;
      for (auto same = field; same != request.end(); ++same) {
        if (!iequals(same->name_string(), field->name_string())) continue;
        if (!first_value) body_ += ", ";
        first_value = false;
        append_json_escaped(body_, same->value());
      }
      body_ += '"';
    }
    body_ += "},\"method\":\"";
    append_json_escaped(body_, request.method_string());
    body_ += "\",\"target\":\"";
    append_json_escaped(body_, request.target());
    body_ += "\"}\n";
    co_return co_await answer(200, "application/json", body_);
  }

  // N chunks, one JSON line each. An HTTP/1.0 client cannot read chunks, so it
  // gets the same lines delimited by the connection close.
  awaitable<bool> stream(std::uint64_t chunks) {
    if (chunks > max_stream_chunks) co_return co_await answer_text(400, "too many chunks\n");
    bool chunked = !http10_;
    if (!chunked) keep_alive_ = false;
    start_head(200);
    add_header("Content-Type", "application/x-ndjson");
    if (chunked) add_header("Transfer-Encoding", "chunked");
    end_head();
    if (!co_await write(asio::buffer(head_))) co_return false;
    if (head_request_) co_return true;
    for (std::uint64_t id = 0; id < chunks; ++id) {
      line_ = "{\"id\":";
      append_number(line_, id);
      line_ += ",\"name\":\"";
      append_json_escaped(line_, name_);
      line_ += "\"}\n";
      if (!co_await write_body_piece(chunked, line_)) co_return false;
    }
    co_return co_await end_body(chunked);
  }

  // Streams the body back as it arrives: chunked if the request was chunked,
  // otherwise with the request's Content-Length.
  awaitable<bool> echo() {
    const auto& request = parser_->get();
    bool chunked = parser_->chunked() && !head_request_;
    start_head(200);
    std::string_view type = request[http::field::content_type];
    add_header("Content-Type", type.empty() ? std::string_view{"application/octet-stream"} : type);
    if (chunked) {
      add_header("Transfer-Encoding", "chunked");
    } else {
      add_content_length(parser_->content_length().value_or(0));
    }
    end_head();
    if (!co_await write(asio::buffer(head_))) co_return false;
    if (head_request_) co_return co_await discard_body();
    while (!parser_->is_done()) {
      auto n = co_await read_body_piece();
      if (!n) co_return false;
      if (n->empty()) continue;
      if (!co_await write_body_piece(chunked, *n)) co_return false;
    }
    co_return co_await end_body(chunked);
  }

  awaitable<bool> drain() {
    std::uint64_t total = 0;
    while (!parser_->is_done()) {
      auto n = co_await read_body_piece();
      if (!n) co_return false;
      total += n->size();
    }
    body_ = "{\"bytes\":";
    append_number(body_, total);
    body_ += "}\n";
    co_return co_await answer(200, "application/json", body_);
  }

  // SO_LINGER with a zero timeout makes close() send RST instead of FIN.
  bool reset() {
    error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
    return false;
  }

  // --- request body ----------------------------------------------------------

  // RFC 9110 §10.1.1: a client that sent `Expect: 100-continue` waits for the
  // interim response before sending the body, so send it before reading one.
  awaitable<bool> maybe_continue() {
    const auto& request = parser_->get();
    if (http10_ || parser_->is_done() || !iequals(request[http::field::expect], "100-continue")) {
      co_return true;
    }
    co_return co_await write(asio::buffer(std::string_view{"HTTP/1.1 100 Continue\r\n\r\n"}));
  }

  // The next piece of the request body (decoded from chunks if need be), a
  // view of buffer_ valid until the next read, or nullopt when reading
  // failed. A piece may be empty (the read found a chunk's header).
  awaitable<std::optional<std::string_view>> read_body_piece() {
    parser_->clear_piece();
    auto [ec, _] = co_await http::async_read_some(socket_, buffer_, *parser_, use_nothrow);
    if (ec) co_return std::nullopt;
    co_return parser_->piece();
  }

  awaitable<bool> discard_body() {
    while (!parser_->is_done()) {
      auto piece = co_await read_body_piece();
      if (!piece) co_return false;
    }
    co_return true;
  }

  // --- response --------------------------------------------------------------

  void start_head(unsigned status) {
    head_ = "HTTP/1.1 ";
    append_number(head_, status);
    head_ += ' ';
    head_ += reason_phrase(status);
    head_ += "\r\n";
    if (!name_.empty()) add_header("X-Upstream-Name", name_);
    if (!keep_alive_) {
      add_header("Connection", "close");
    } else if (http10_) {
      add_header("Connection", "keep-alive");
    }
  }

  void add_header(std::string_view name, std::string_view value) {
    head_ += name;
    head_ += ": ";
    head_ += value;
    head_ += "\r\n";
  }

  void add_content_length(std::uint64_t length) {
    head_ += "Content-Length: ";
    append_number(head_, length);
    head_ += "\r\n";
  }

  void end_head() { head_ += "\r\n"; }

  awaitable<bool> answer(unsigned status, std::string_view type, std::string_view body) {
    start_head(status);
    add_header("Content-Type", type);
    add_content_length(body.size());
    end_head();
    if (head_request_) co_return co_await write(asio::buffer(head_));
    co_return co_await write(gather(head_, body));
  }

  awaitable<bool> answer_text(unsigned status, std::string_view body) {
    co_return co_await answer(status, "text/plain", body);
  }

  awaitable<void> answer_bad_request(unsigned status) {
    keep_alive_ = false;
    http10_ = false;
    head_request_ = false;
    co_await answer_text(status, status == 431 ? "request header too large\n" : "bad request\n");
  }

  awaitable<bool> write_body_piece(bool chunked, std::string_view data) {
    if (!chunked) co_return co_await write(asio::buffer(data));
    chunk_size_.clear();
    append_number(chunk_size_, data.size(), 16);
    chunk_size_ += "\r\n";
    co_return co_await write(gather(chunk_size_, data, "\r\n"));
  }

  // The last chunk (without trailers) of a chunked body; nothing otherwise.
  awaitable<bool> end_body(bool chunked) {
    if (!chunked) co_return true;
    co_return co_await write(asio::buffer(std::string_view{"0\r\n\r\n"}));
  }

  template <typename Buffers>
  awaitable<bool> write(const Buffers& buffers) {
    auto [ec, _] = co_await asio::async_write(socket_, buffers, use_nothrow);
    co_return !ec;
  }

  void close() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  tcp_socket socket_;
  const std::string& name_;
  const std::string& health_file_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser> parser_;
  // Reused between requests so that their capacity is allocated once.
  std::string head_;
  std::string body_;
  std::string line_;
  std::string chunk_size_;
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_request_ = false;
};

awaitable<void> serve(tcp_socket socket, const options& opts) {
  connection client(std::move(socket), opts);
  co_await client.run();
}

awaitable<void> do_accept(tcp_acceptor& acceptor, const options& opts) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_nothrow);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors, typically: back off instead of spinning.
      std::fprintf(stderr, "demo-upstream: accept: %s\n", ec.message().c_str());
      steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), opts), asio::detached);
  }
}

tcp_acceptor open_acceptor(asio::io_context& context, const tcp::endpoint& endpoint) {
  using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
  tcp_acceptor acceptor(context);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.set_option(reuse_port(true));
  acceptor.bind(endpoint);
  acceptor.listen(tcp::acceptor::max_listen_connections);
  return acceptor;
}

std::optional<tcp::endpoint> parse_endpoint(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  auto port = parse_number<std::uint16_t>(text.substr(colon + 1));
  error_code ec;
  auto address = asio::ip::make_address(std::string(host), ec);
  if (!port || ec) return std::nullopt;
  return tcp::endpoint(address, *port);
}

std::optional<options> parse_options(int argc, char** argv) {
  options opts;
  bool have_listen = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    std::string_view value = argv[i + 1];
    if (flag == "--listen") {
      auto endpoint = parse_endpoint(value);
      if (!endpoint) return std::nullopt;
      opts.endpoint = *endpoint;
      have_listen = true;
    } else if (flag == "--threads") {
      auto threads = parse_number<int>(value);
      if (!threads || *threads < 1 || *threads > 256) return std::nullopt;
      opts.threads = *threads;
    } else if (flag == "--name") {
      opts.name = value;
    } else if (flag == "--health-file") {
      opts.health_file = value;
    } else {
      return std::nullopt;
    }
  }
  if (argc % 2 == 0 || !have_listen) return std::nullopt;
  return opts;
}

std::string format_endpoint(const tcp::endpoint& endpoint) {
  auto address = endpoint.address().to_string();
  if (endpoint.address().is_v6()) address = "[" + address + "]";
  return address + ":" + std::to_string(endpoint.port());
}

int serve_until_signal(options opts) {
  // Blocked before any thread starts, so that every thread inherits the mask
  // and only sigwait() below sees SIGINT / SIGTERM.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<tcp_acceptor> acceptors;
  for (int i = 0; i < opts.threads; ++i) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    acceptors.push_back(open_acceptor(*contexts.back(), opts.endpoint));
    // The first acceptor picks the port (when asked for 0); the rest join it.
    opts.endpoint = acceptors.front().local_endpoint();
  }
  std::printf("listening %s\n", format_endpoint(opts.endpoint).c_str());
  std::fflush(stdout);

  std::vector<std::thread> threads;
  for (int i = 0; i < opts.threads; ++i) {
    asio::co_spawn(*contexts[i], do_accept(acceptors[i], opts), asio::detached);
    threads.emplace_back([&context = *contexts[i]] { context.run(); });
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  for (auto& context : contexts) context->stop();
  for (auto& thread : threads) thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto opts = parse_options(argc, argv);
  if (!opts) {
    std::fprintf(stderr, "usage: demo-upstream --listen HOST:PORT [--threads N] [--name NAME] [--health-file PATH]\n");
    return 2;
  }
  try {
    return serve_until_signal(*opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo-upstream: %s\n", e.what());
    return 1;
  }
}
