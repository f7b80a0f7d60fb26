// The Redis client (see redis_client.h for the contract and failure model).
//
// Shape of a connection's life, all on the io thread:
//   run loop:   connect (resolve, TCP connect, AUTH, SELECT, INFO) -> ready
//               -> wait until the connection closes -> backoff -> again
//   reader:     one per connection; feeds hiredis's reader, completes the
//               oldest in-flight command with each reply
//   writer:     one at a time per connection, started by the first command
//               that finds it idle; writes every queued byte, then ends
//   a command:  appends its bytes and its waiter, then waits on the waiter's
//               timer, which is both the deadline and the wake-up (the reader
//               cancels it once the reply is in)
// Closing a connection (timeout, read/write error, protocol error, stop())
// happens in one place, close(): it fails every waiter still in flight and
// wakes the run loop. Every coroutine holds the shared state and its
// connection by shared_ptr, so neither dies under a suspended coroutine.
#include "cluster/redis_client.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <atomic>
#include <charconv>
#include <deque>
#include <exception>
#include <random>
#include <utility>

#include "core/backoff.h"
#include "observe/log.h"

namespace bulwark::cluster {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

// `auto [ec, ...] = co_await op(..., use_nothrow);`: no exceptions on the data
// path (as src/proxy/net.h).
constexpr auto use_nothrow = net::as_tuple(net::deferred);

constexpr std::size_t read_chunk = 16 * 1024;

redis_reply convert(const redisReply& from) {
  redis_reply to;
  switch (from.type) {
    case REDIS_REPLY_STRING:
      to.type = redis_reply::kind::string;
      to.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_STATUS:
      to.type = redis_reply::kind::status;
      to.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_ERROR:
      to.type = redis_reply::kind::error;
      to.text.assign(from.str, from.len);
      break;
    case REDIS_REPLY_INTEGER:
      to.type = redis_reply::kind::integer;
      to.integer = from.integer;
      break;
    case REDIS_REPLY_ARRAY:
      to.type = redis_reply::kind::array;
      to.elements.reserve(from.elements);
      for (std::size_t i = 0; i < from.elements; ++i) {
        // hiredis never leaves an element null (a nil element is a NIL
        // reply), but a null costs nothing to treat as nil.
        to.elements.push_back(from.element[i] ? convert(*from.element[i]) : redis_reply{});
      }
      break;
    default:  // REDIS_REPLY_NIL (and any type a newer hiredis might add)
      to.type = redis_reply::kind::nil;
      break;
  }
  return to;
}

redis_result failure(redis_errc error) {
  redis_result result;
  result.error = error;
  return result;
}

std::string milliseconds_text(core::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

std::string address_text(const redis_options& options) {
  std::string text;
  const bool v6 = options.host.find(':') != std::string::npos;
  if (v6) text += '[';
  text += options.host;
  if (v6) text += ']';
  text += ':';
  text += std::to_string(options.port);
  return text;
}

// A reason as the server or the system worded it, with the reply's text.
std::string describe(const redis_result& result) {
  if (result.ok()) return "ok";
  std::string text(to_string(*result.error));
  if (*result.error == redis_errc::server) {
    text += ": ";
    text += result.reply.text;
  }
  return text;
}

// A command waiting for its reply. The timer is both its deadline and its
// wake-up: complete() cancels it. A reply that arrives after the deadline
// fired but before the waiter resumed still wins (the waiter checks `done`
// first), so exactly one outcome is ever delivered.
struct waiter {
  explicit waiter(const net::any_io_executor& executor) : timer(executor) {}
  net::steady_timer timer;
  bool done = false;
  redis_result result;

  void complete(redis_result outcome) {
    if (done) return;
    done = true;
    result = std::move(outcome);
    timer.cancel();
  }
};

struct connection {
  connection(const net::any_io_executor& executor, std::size_t max_reply_bytes)
      : socket(executor), parser(max_reply_bytes), closed_signal(executor) {}

  tcp::socket socket;
  redis_reply_parser parser;
  // Written (or queued to be) and not yet answered, oldest first: replies
  // come back in this order.
  std::deque<std::shared_ptr<waiter>> in_flight;
  std::string queued;  // bytes of commands not yet handed to a write
  bool writing = false;
  bool ready = false;  // the handshake is done: open to users' commands
  bool closed = false;
  std::string reason;  // why it closed, scrubbed of the password
  net::steady_timer closed_signal;  // the run loop waits on it; close() cancels it
};

// The deadline of an operation that is not a command (resolve, connect).
struct deadline_flag {
  explicit deadline_flag(const net::any_io_executor& executor) : timer(executor) {}
  net::steady_timer timer;
  bool fired = false;
};

}  // namespace

// --- the pure parts ----------------------------------------------------------

std::string_view to_string(redis_errc error) {
  switch (error) {
    case redis_errc::disconnected: return "disconnected";
    case redis_errc::timeout: return "timeout";
    case redis_errc::protocol: return "protocol error";
    case redis_errc::server: return "server error";
  }
  return "unknown";
}

std::string sha1_hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr) != 1) return {};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

redis_script::redis_script(std::string source) : source_(std::move(source)), sha1_(sha1_hex(source_)) {}

std::optional<std::chrono::microseconds> parse_time_reply(const redis_reply& reply) {
  if (reply.type != redis_reply::kind::array || reply.elements.size() != 2) return std::nullopt;
  long long parts[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const auto& element = reply.elements[static_cast<std::size_t>(i)];
    if (element.type != redis_reply::kind::string || element.text.empty()) return std::nullopt;
    const char* first = element.text.data();
    const char* last = first + element.text.size();
    auto [end, ec] = std::from_chars(first, last, parts[i]);
    if (ec != std::errc{} || end != last || parts[i] < 0) return std::nullopt;
  }
  if (parts[1] >= 1'000'000) return std::nullopt;
  return std::chrono::seconds(parts[0]) + std::chrono::microseconds(parts[1]);
}

std::string parse_run_id(std::string_view info) {
  constexpr std::string_view field = "run_id:";
  std::size_t at = 0;
  while (at < info.size()) {
    auto end = info.find('\n', at);
    if (end == std::string_view::npos) end = info.size();
    auto line = info.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.starts_with(field)) return std::string(line.substr(field.size()));
    at = end + 1;
  }
  return {};
}

std::string format_command(const std::vector<std::string>& argv) {
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  pointers.reserve(argv.size());
  lengths.reserve(argv.size());
  for (const auto& arg : argv) {
    pointers.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* target = nullptr;
  const int length = redisFormatCommandArgv(&target, static_cast<int>(argv.size()), pointers.data(), lengths.data());
  if (length < 0 || target == nullptr) return {};
  std::string command(target, static_cast<std::size_t>(length));
  redisFreeCommand(target);
  return command;
}

redis_reply_parser::redis_reply_parser(std::size_t max_buffered)
    : reader_(redisReaderCreate()), max_buffered_(max_buffered) {
  if (reader_ == nullptr) error_ = "out of memory";
}

redis_reply_parser::~redis_reply_parser() {
  if (reader_ != nullptr) redisReaderFree(static_cast<redisReader*>(reader_));
}

bool redis_reply_parser::feed(std::string_view bytes) {
  auto* reader = static_cast<redisReader*>(reader_);
  if (reader == nullptr || reader->err != 0 || !error_.empty()) {
    if (error_.empty()) error_ = reader ? reader->errstr : "out of memory";
    return false;
  }
  // The bytes hiredis holds unparsed (a bulk string still arriving) plus the
  // new ones; parsed replies are taken out by next() as they complete.
  const std::size_t unparsed = reader->len - reader->pos;
  if (unparsed + bytes.size() > max_buffered_) {
    error_ = "reply larger than " + std::to_string(max_buffered_) + " bytes";
    return false;
  }
  if (redisReaderFeed(reader, bytes.data(), bytes.size()) != REDIS_OK) {
    error_ = reader->err != 0 ? reader->errstr : "out of memory";
    return false;
  }
  return true;
}

redis_reply_parser::status redis_reply_parser::next(redis_reply& out) {
  auto* reader = static_cast<redisReader*>(reader_);
  if (reader == nullptr || !error_.empty()) return status::error;
  void* raw = nullptr;
  if (redisReaderGetReply(reader, &raw) != REDIS_OK) {
    error_ = reader->errstr[0] != '\0' ? reader->errstr : "malformed reply";
    return status::error;
  }
  if (raw == nullptr) return status::incomplete;
  out = convert(*static_cast<redisReply*>(raw));
  freeReplyObject(raw);
  return status::reply;
}

// --- the client ------------------------------------------------------------

struct redis_client::state : std::enable_shared_from_this<redis_client::state> {
  state(net::io_context& context, redis_options opts)
      : io(context),
        executor(context.get_executor()),
        options(std::move(opts)),
        address(address_text(options)),
        reconnect(options.reconnect_base, options.reconnect_max, core::jitter::full),
        random(std::random_device{}()),
        retry_timer(executor) {}

  net::io_context& io;
  net::any_io_executor executor;
  const redis_options options;
  const std::string address;  // host:port, for log lines
  const core::backoff reconnect;
  std::mt19937_64 random;
  net::steady_timer retry_timer;

  // Touched on the io thread only.
  bool running = false;
  unsigned generation = 0;  // bumped by start() and stop(): an older run loop then ends
  std::shared_ptr<connection> current;
  std::function<void(const std::string&)> on_connected;
  std::function<void(std::string_view)> on_lost;

  // Read from any thread.
  std::atomic<bool> ready{false};
  std::atomic<std::uint64_t> connects{0}, connect_failures{0}, commands{0}, timeouts{0}, errors{0};

  static void count(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

  // Whatever leaves the client as text (log lines, reasons) goes through here
  // first: the password never appears in it, whatever a server echoed.
  std::string redact(std::string text) const {
    const auto& secret = options.password;
    if (secret.empty()) return text;
    for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
      text.replace(at, secret.size(), "[redacted]");
      at += 10;
    }
    return text;
  }

  template <class Awaitable>
  void spawn(Awaitable&& task) {
    // Nothing escapes io.run(): a coroutine that ends with an exception (only
    // bad_alloc or a throwing hook can) is logged, not rethrown.
    net::co_spawn(executor, std::forward<Awaitable>(task), [](std::exception_ptr error) {
      if (!error) return;
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        observe::log(observe::log_level::error, "redis client task failed", {{"error", e.what()}});
      } catch (...) {
        observe::log(observe::log_level::error, "redis client task failed", {{"error", "unknown"}});
      }
    });
  }

  // A hook that throws is logged: it must not end the reconnect loop.
  template <class Call>
  static void call_hook(std::string_view name, Call&& call) {
    try {
      call();
    } catch (const std::exception& e) {
      observe::log(observe::log_level::error, "redis client hook threw", {{"hook", name}, {"error", e.what()}});
    } catch (...) {
      observe::log(observe::log_level::error, "redis client hook threw", {{"hook", name}, {"error", "unknown"}});
    }
  }

  // The one place a connection ends. The first waiter still in flight gets
  // `first_error` (the one a protocol error is about); the rest get
  // `disconnected`.
  void close(const std::shared_ptr<connection>& conn, std::string reason,
             redis_errc first_error = redis_errc::disconnected) {
    if (conn->closed) return;
    conn->closed = true;
    conn->reason = redact(std::move(reason));
    error_code ignored;
    conn->socket.shutdown(tcp::socket::shutdown_both, ignored);
    conn->socket.close(ignored);
    conn->closed_signal.cancel();
    auto in_flight = std::move(conn->in_flight);
    conn->in_flight.clear();
    bool first = true;
    for (auto& waiting : in_flight) {
      if (waiting->done) continue;
      waiting->complete(failure(first ? first_error : redis_errc::disconnected));
      first = false;
    }
    if (conn == current) ready.store(false, std::memory_order_relaxed);
  }

  net::awaitable<void> write_queued(std::shared_ptr<state> self, std::shared_ptr<connection> conn) {
    std::string buffer;
    while (!conn->closed && !conn->queued.empty()) {
      buffer.clear();
      std::swap(buffer, conn->queued);  // commands queued meanwhile go in the next write
      auto [ec, n] = co_await net::async_write(conn->socket, net::buffer(buffer), use_nothrow);
      (void)n;
      if (ec) {
        self->close(conn, "write failed: " + ec.message());
        break;
      }
    }
    conn->writing = false;
  }

  net::awaitable<void> read_replies(std::shared_ptr<state> self, std::shared_ptr<connection> conn) {
    std::vector<char> buffer(read_chunk);
    for (;;) {
      auto [ec, n] = co_await conn->socket.async_read_some(net::buffer(buffer), use_nothrow);
      if (conn->closed) co_return;
      if (ec) {
        self->close(conn, ec == net::error::eof ? std::string("connection closed by the server")
                                                : "read failed: " + ec.message());
        co_return;
      }
      if (!conn->parser.feed(std::string_view(buffer.data(), n))) {
        self->close(conn, "protocol error: " + conn->parser.error(), redis_errc::protocol);
        co_return;
      }
      for (;;) {
        redis_reply reply;
        const auto status = conn->parser.next(reply);
        if (status == redis_reply_parser::status::incomplete) break;
        if (status == redis_reply_parser::status::error) {
          self->close(conn, "protocol error: " + conn->parser.error(), redis_errc::protocol);
          co_return;
        }
        if (conn->in_flight.empty()) {
          self->close(conn, "protocol error: a reply to no command", redis_errc::protocol);
          co_return;
        }
        auto waiting = std::move(conn->in_flight.front());
        conn->in_flight.pop_front();
        redis_result result;
        if (reply.is_error()) result.error = redis_errc::server;
        result.reply = std::move(reply);
        waiting->complete(std::move(result));
      }
    }
  }

  // Sends one command on `conn` (handshake or user) and waits for its outcome.
  net::awaitable<redis_result> send(std::shared_ptr<state> self, std::shared_ptr<connection> conn,
                                    const std::vector<std::string>& argv) {
    if (conn->closed) {
      count(errors);
      co_return failure(redis_errc::disconnected);
    }
    auto bytes = format_command(argv);
    if (bytes.empty()) {  // out of memory in hiredis; nothing was sent
      count(errors);
      co_return failure(redis_errc::protocol);
    }
    auto waiting = std::make_shared<waiter>(executor);
    waiting->timer.expires_after(options.timeout);
    conn->queued += bytes;
    conn->in_flight.push_back(waiting);
    count(commands);
    if (!conn->writing) {
      conn->writing = true;
      spawn(write_queued(self, conn));
    }
    auto [ec] = co_await waiting->timer.async_wait(use_nothrow);
    (void)ec;  // aborted: completed; success: the deadline passed (unless completed meanwhile)
    if (!waiting->done) {
      waiting->complete(failure(redis_errc::timeout));
      count(timeouts);
      self->close(conn, "command timed out after " + milliseconds_text(options.timeout));
      co_return std::move(waiting->result);
    }
    if (!waiting->result.ok()) count(errors);
    co_return std::move(waiting->result);
  }

  // Resolve + TCP connect, each bounded by options.timeout; nullopt on success.
  net::awaitable<std::optional<std::string>> open_socket(std::shared_ptr<connection> conn) {
    std::vector<tcp::endpoint> endpoints;
    error_code parse_error;
    const auto literal = net::ip::make_address(options.host, parse_error);
    if (!parse_error) {
      endpoints.emplace_back(literal, options.port);
    } else {
      // Asio resolves on a thread of its own (getaddrinfo blocks), so the io
      // thread only waits on the deadline; a late answer finds the wait
      // gone and is dropped.
      struct resolve_wait {
        explicit resolve_wait(const net::any_io_executor& executor) : resolver(executor), timer(executor) {}
        tcp::resolver resolver;
        net::steady_timer timer;
        bool done = false;
        error_code ec;
        tcp::resolver::results_type results;
      };
      auto wait = std::make_shared<resolve_wait>(executor);
      wait->timer.expires_after(options.timeout);
      wait->resolver.async_resolve(options.host, std::to_string(options.port),
                                   [wait](error_code ec, tcp::resolver::results_type results) {
                                     wait->done = true;
                                     wait->ec = ec;
                                     wait->results = std::move(results);
                                     wait->timer.cancel();
                                   });
      auto [timer_ec] = co_await wait->timer.async_wait(use_nothrow);
      (void)timer_ec;
      if (!wait->done) {
        wait->resolver.cancel();
        co_return "resolving " + options.host + " timed out after " + milliseconds_text(options.timeout);
      }
      if (wait->ec) co_return "resolving " + options.host + " failed: " + wait->ec.message();
      for (const auto& entry : wait->results) endpoints.push_back(entry.endpoint());
      if (endpoints.empty()) co_return "resolving " + options.host + " found no address";
    }
    if (conn->closed) co_return "stopped";

    // The deadline closes the socket, which aborts the connect.
    auto deadline = std::make_shared<deadline_flag>(executor);
    deadline->timer.expires_after(options.timeout);
    std::weak_ptr<connection> weak = conn;
    deadline->timer.async_wait([deadline, weak](error_code ec) {
      if (ec) return;
      deadline->fired = true;
      if (auto c = weak.lock()) {
        error_code ignored;
        c->socket.close(ignored);
      }
    });
    auto [ec, endpoint] = co_await net::async_connect(conn->socket, endpoints, use_nothrow);
    (void)endpoint;
    deadline->timer.cancel();
    if (deadline->fired) co_return "connect timed out after " + milliseconds_text(options.timeout);
    if (conn->closed) co_return "stopped";
    if (ec) co_return "connect failed: " + ec.message();
    error_code ignored;
    conn->socket.set_option(tcp::no_delay(true), ignored);
    conn->socket.set_option(net::socket_base::keep_alive(true), ignored);
    co_return std::nullopt;
  }

  // A connection up to ready: socket, AUTH, SELECT, INFO (for the run_id).
  // nullopt on success; else why not.
  net::awaitable<std::optional<std::string>> handshake(std::shared_ptr<state> self, std::shared_ptr<connection> conn,
                                                       std::string& run_id) {
    auto opened = co_await open_socket(conn);
    if (opened) co_return opened;
    spawn(read_replies(self, conn));
    if (!options.password.empty()) {
      std::vector<std::string> auth{"AUTH", options.password};
      auto result = co_await send(self, conn, auth);
      if (!result.ok()) co_return "AUTH failed: " + describe(result);
    }
    if (options.db != 0) {
      std::vector<std::string> select{"SELECT", std::to_string(options.db)};
      auto result = co_await send(self, conn, select);
      if (!result.ok()) co_return "SELECT " + std::to_string(options.db) + " failed: " + describe(result);
    }
    std::vector<std::string> info{"INFO", "server"};
    auto result = co_await send(self, conn, info);
    if (!result.ok()) co_return "INFO failed: " + describe(result);
    run_id = parse_run_id(result.reply.text);
    co_return std::nullopt;
  }

  net::awaitable<void> run(std::shared_ptr<state> self, unsigned my_generation) {
    unsigned failures = 0;  // since the last ready connection: the backoff exponent
    std::string last_failure;
    auto still_mine = [&] { return self->running && self->generation == my_generation; };
    while (still_mine()) {
      auto conn = std::make_shared<connection>(executor, options.max_reply_bytes);
      current = conn;
      std::string run_id;
      auto failed = co_await handshake(self, conn, run_id);
      if (!still_mine()) {
        close(conn, "stopped");
        co_return;
      }
      if (!failed && conn->closed) failed = conn->reason;
      if (!failed) {
        failures = 0;
        last_failure.clear();
        conn->ready = true;
        ready.store(true, std::memory_order_relaxed);
        count(connects);
        observe::log(observe::log_level::info, "redis connected",
                     {{"address", address}, {"db", options.db}, {"run_id", run_id}});
        call_hook("on_connected", [&] {
          if (on_connected) on_connected(run_id);
        });
        while (!conn->closed) {
          conn->closed_signal.expires_at(net::steady_timer::time_point::max());
          auto [ec] = co_await conn->closed_signal.async_wait(use_nothrow);
          (void)ec;
        }
        if (!still_mine()) co_return;  // stop(): not a loss
        ready.store(false, std::memory_order_relaxed);
        observe::log(observe::log_level::warn, "redis connection lost",
                     {{"address", address}, {"reason", conn->reason}});
        call_hook("on_lost", [&] {
          if (on_lost) on_lost(conn->reason);
        });
      } else {
        auto reason = redact(std::move(*failed));
        close(conn, reason);
        count(connect_failures);
        ++failures;
        // One line per streak of the same failure: a server down for an hour
        // is one line, not one per attempt.
        if (reason != last_failure) {
          observe::log(observe::log_level::warn, "redis connect failed",
                       {{"address", address}, {"reason", reason}, {"attempts", failures}});
          last_failure = std::move(reason);
        }
      }
      // After a loss the first delay is drawn from [0, base]: instances that
      // lost the same server do not all come back at once.
      const auto delay = reconnect.next_delay(failures == 0 ? 0 : failures - 1, core::duration::zero(), random);
      retry_timer.expires_after(delay);
      auto [ec] = co_await retry_timer.async_wait(use_nothrow);
      (void)ec;
    }
  }

  void do_start(std::function<void(const std::string&)> connected_hook, std::function<void(std::string_view)> lost_hook) {
    if (running) return;
    running = true;
    ++generation;
    on_connected = std::move(connected_hook);
    on_lost = std::move(lost_hook);
    spawn(run(shared_from_this(), generation));
  }

  void do_stop() {
    if (!running) return;
    running = false;
    ++generation;
    ready.store(false, std::memory_order_relaxed);
    if (current) close(current, "stopped");
    current.reset();
    retry_timer.cancel();
  }
};

redis_client::redis_client(net::io_context& io, redis_options options)
    : state_(std::make_shared<state>(io, std::move(options))) {}

redis_client::~redis_client() { stop(); }

void redis_client::start() {
  net::dispatch(state_->executor, [self = state_, connected_hook = on_connected, lost_hook = on_lost]() mutable {
    self->do_start(std::move(connected_hook), std::move(lost_hook));
  });
}

void redis_client::stop() {
  net::dispatch(state_->executor, [self = state_] { self->do_stop(); });
}

bool redis_client::connected() const { return state_->ready.load(std::memory_order_relaxed); }

const redis_options& redis_client::options() const { return state_->options; }

redis_counters redis_client::counters() const {
  redis_counters out;
  out.connects = state_->connects.load(std::memory_order_relaxed);
  out.connect_failures = state_->connect_failures.load(std::memory_order_relaxed);
  out.commands = state_->commands.load(std::memory_order_relaxed);
  out.timeouts = state_->timeouts.load(std::memory_order_relaxed);
  out.errors = state_->errors.load(std::memory_order_relaxed);
  return out;
}

// A caller's coroutine may outlive the redis_client it started on (it then
// completes with `disconnected`), so nothing after the first suspension
// touches `this`.
net::awaitable<redis_result> redis_client::run_command(std::shared_ptr<state> self, std::vector<std::string> argv) {
  auto conn = self->current;
  if (!conn || !conn->ready || conn->closed) {
    state::count(self->errors);
    co_return failure(redis_errc::disconnected);
  }
  auto result = co_await self->send(self, conn, argv);
  co_return result;
}

net::awaitable<redis_result> redis_client::command(std::vector<std::string> argv) {
  auto result = co_await run_command(state_, std::move(argv));
  co_return result;
}

net::awaitable<redis_result> redis_client::eval(const redis_script& script, std::vector<std::string> keys,
                                                std::vector<std::string> args) {
  auto self = state_;
  // Copied before the first suspension: the caller's script may not outlive it.
  const std::string sha1 = script.sha1();
  const std::string source = script.source();
  std::vector<std::string> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.emplace_back("EVALSHA");
  argv.push_back(sha1);
  argv.push_back(std::to_string(keys.size()));
  for (auto& key : keys) argv.push_back(std::move(key));
  for (auto& arg : args) argv.push_back(std::move(arg));
  auto result = co_await run_command(self, argv);
  if (result.error != redis_errc::server || !result.reply.text.starts_with("NOSCRIPT")) co_return result;
  // The server does not know the script: restarted, flushed (SCRIPT FLUSH),
  // or a replica promoted. Load it and try once more.
  std::vector<std::string> load{"SCRIPT", "LOAD", source};
  auto loaded = co_await run_command(self, std::move(load));
  if (!loaded.ok()) co_return loaded;
  auto retried = co_await run_command(self, std::move(argv));
  co_return retried;
}

net::awaitable<std::optional<std::chrono::microseconds>> redis_client::server_time(redis_result* error) {
  std::vector<std::string> argv{"TIME"};
  auto result = co_await run_command(state_, std::move(argv));
  std::optional<std::chrono::microseconds> time;
  if (result.ok()) time = parse_time_reply(result.reply);
  if (!time && result.ok()) result.error = redis_errc::protocol;  // a reply TIME never gives
  if (error != nullptr) *error = std::move(result);
  co_return time;
}

}  // namespace bulwark::cluster
