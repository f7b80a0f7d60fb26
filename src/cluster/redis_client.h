// A Redis client for cluster mode (DESIGN.md §9): one pipelined connection,
// reconnected forever with capped, fully jittered backoff, every command
// bounded by a timeout.
//
// Who does what: hiredis only formats commands and parses replies (its
// redisReader; hiredis stays inside redis_client.cpp); the socket, the timers
// and the reconnects are Asio's. The client lives on ONE io_context run by one
// thread that is never a worker's (DESIGN.md §3: the main thread talks to
// Redis, the workers never touch a Redis socket). Every member function except
// start(), stop(), connected() and counters() must be called on that thread.
//
// Failure model. A command completes with exactly one of: its reply (which may
// be a Redis error reply: redis_errc::server), `disconnected` (not connected,
// or the connection ended before the reply), `timeout` (no reply within
// options.timeout) or `protocol` (the reply stream could not be parsed). A
// timeout or a protocol error breaks the connection: replies are matched to
// commands by order alone, so once one reply is missing or garbled no later
// reply can be trusted. The three faults this is built for: a refused connect
// (the connect fails, the loop backs off), a server that accepts and never
// answers (SIGSTOP: commands time out, the connection is dropped), a server
// restarted (the connection resets; scripts answer NOSCRIPT and are loaded
// again; the run_id given to on_connected changes).
//
// The password arrives from the caller (who reads the environment variable
// named by cluster.redis.password_env); it is sent in AUTH only, and never
// appears in a log line, a reason or an error message (every reason text is
// scrubbed of it before it leaves the client).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace bulwark::cluster {

// A reply converted out of hiredis's redisReply, so that no header of the
// project names a hiredis type. RESP2 only (hiredis 0.14 reads RESP2; the
// client never sends HELLO 3), so `double_` is reserved for RESP3.
struct redis_reply {
  enum class kind : std::uint8_t { nil, integer, string, status, error, array, double_ };

  kind type = kind::nil;
  long long integer = 0;
  std::string text;  // string, status and error replies
  std::vector<redis_reply> elements;

  bool is_error() const { return type == kind::error; }
  // A status or bulk string equal to `expected` ("OK", "PONG").
  bool is_text(std::string_view expected) const {
    return (type == kind::status || type == kind::string) && text == expected;
  }
};

enum class redis_errc : std::uint8_t {
  disconnected,  // not connected, or the connection was lost before the reply
  timeout,       // no reply within options.timeout; the connection was dropped
  protocol,      // the reply could not be parsed (or came unasked); the connection was dropped
  server         // Redis answered with an error reply; its text is in `reply.text`
};
std::string_view to_string(redis_errc error);

struct redis_result {
  std::optional<redis_errc> error;
  redis_reply reply;  // for `server`, the error reply

  bool ok() const { return !error.has_value(); }
};

struct redis_options {
  std::string host = "127.0.0.1";  // a name is resolved (off the io thread, by Asio) on each connect
  std::uint16_t port = 6379;
  // The secret itself, read by the caller from the environment variable the
  // configuration names (never from the file). Empty: no AUTH.
  std::string password;
  unsigned db = 0;  // SELECT, when not 0
  // Bounds every command, and each step of a connect (resolve, TCP connect,
  // AUTH, SELECT, INFO).
  core::duration timeout = std::chrono::milliseconds(50);
  // Reconnect delays: full jitter over min(reconnect_max, reconnect_base * 2^n)
  // (core/backoff.h), n counting the failed attempts since the last success.
  core::duration reconnect_base = std::chrono::milliseconds(50);
  core::duration reconnect_max = std::chrono::seconds(2);
  // A reply (or the unparsed bytes waiting for one) larger than this is a
  // protocol error: every read has a size limit (STYLE.md).
  std::size_t max_reply_bytes = 64u << 20;
};

// A Lua script with its SHA1 computed locally (OpenSSL), so that EVALSHA needs
// no round trip to learn it: the server's SCRIPT LOAD answers the same digest.
class redis_script {
 public:
  explicit redis_script(std::string source);

  const std::string& source() const { return source_; }
  const std::string& sha1() const { return sha1_; }  // 40 lowercase hex digits

 private:
  std::string source_;
  std::string sha1_;
};

// The SHA1 of `text` in lowercase hex, as Redis names scripts.
std::string sha1_hex(std::string_view text);

// The server's clock from a TIME reply (["<seconds>", "<microseconds>"]), as
// the time since the Unix epoch; nullopt for anything else. Redis TIME is the
// one clock for state shared between instances: their own clocks may differ.
std::optional<std::chrono::microseconds> parse_time_reply(const redis_reply& reply);

// The `run_id:` field of an INFO reply; empty when absent.
std::string parse_run_id(std::string_view info);

// A command in the wire format (RESP array of bulk strings), via hiredis's
// redisFormatCommandArgv.
std::string format_command(const std::vector<std::string>& argv);

// Incremental reply parser over hiredis's redisReader: feed bytes as they
// arrive, take complete replies out in order. Exposed for the unit tests
// (they feed it raw RESP bytes).
class redis_reply_parser {
 public:
  explicit redis_reply_parser(std::size_t max_buffered = 64u << 20);
  ~redis_reply_parser();
  redis_reply_parser(const redis_reply_parser&) = delete;
  redis_reply_parser& operator=(const redis_reply_parser&) = delete;

  enum class status : std::uint8_t { reply, incomplete, error };
  // Returns false (and error() says why) when the bytes are malformed or the
  // unparsed bytes exceed `max_buffered`; the parser is then unusable.
  bool feed(std::string_view bytes);
  // `reply` when one complete reply was moved into `out`; `incomplete` when
  // more bytes are needed; `error` on a malformed stream.
  status next(redis_reply& out);
  const std::string& error() const { return error_; }

 private:
  void* reader_;  // redisReader*
  std::size_t max_buffered_;
  std::string error_;
};

// Counters for metrics; readable from any thread.
struct redis_counters {
  std::uint64_t connects = 0;          // handshakes completed (connect, AUTH, SELECT, INFO)
  std::uint64_t connect_failures = 0;  // attempts that ended before ready
  std::uint64_t commands = 0;          // commands written (handshake ones included)
  std::uint64_t timeouts = 0;          // commands that timed out
  std::uint64_t errors = 0;            // commands completed with disconnected, protocol or server
};

class redis_client {
 public:
  // `io` is run by ONE thread that is not a worker's, and outlives the client.
  redis_client(boost::asio::io_context& io, redis_options options);
  // Stops (as stop()) and lets go of the connection; coroutines still waiting
  // on a command complete with `disconnected` when the io thread next runs.
  ~redis_client();
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // Connects in the background and reconnects forever (capped, fully jittered
  // backoff) until stop(). The hooks below are taken at this call: set them
  // first. Callable from any thread (the work is posted to the io thread).
  void start();
  // Closes the connection; pending commands complete with `disconnected`;
  // on_lost is not called. Callable from any thread; start() may follow.
  void stop();
  // Ready: connected, and AUTH and SELECT done. From any thread.
  bool connected() const;

  // One command; completes with its reply, or an error within
  // options.timeout. Commands from several coroutines are pipelined on the
  // one connection: each is written without waiting for earlier replies, and
  // replies are matched in order. While not connected a command fails at once
  // with `disconnected` (the caller degrades; nothing is queued for later).
  // A command that times out breaks the connection (see the file comment):
  // it is closed, the other pending commands fail with `disconnected`, and the
  // reconnect loop runs.
  boost::asio::awaitable<redis_result> command(std::vector<std::string> argv);

  // EVALSHA with the script's local SHA1; on a NOSCRIPT error (a restarted or
  // flushed server), SCRIPT LOAD and EVALSHA once more. Up to three round
  // trips, each bounded by options.timeout.
  boost::asio::awaitable<redis_result> eval(const redis_script& script, std::vector<std::string> keys,
                                            std::vector<std::string> args);

  // Redis TIME, the one clock for shared state: time since the Unix epoch, or
  // nullopt when the command failed (the reason in `error`, if asked for).
  boost::asio::awaitable<std::optional<std::chrono::microseconds>> server_time(redis_result* error = nullptr);

  // Hooks, called on the io thread. on_connected: after AUTH and SELECT, with
  // the server's run_id (INFO server), which changes when the server restarts
  // (its memory, the scripts included, is then gone). on_lost: a ready
  // connection ended (not by stop()), with the reason.
  std::function<void(const std::string& run_id)> on_connected;
  std::function<void(std::string_view reason)> on_lost;

  redis_counters counters() const;
  const redis_options& options() const;

 private:
  struct state;
  // The body of every command: it takes the state, never `this`, so a
  // caller's coroutine may outlive the client it started on.
  static boost::asio::awaitable<redis_result> run_command(std::shared_ptr<state> self, std::vector<std::string> argv);

  std::shared_ptr<state> state_;  // shared with the client's coroutines, which may outlive it
};

}  // namespace bulwark::cluster
