// A real redis-server for integration tests: started on a free port of its
// own, with no persistence (--save "" --appendonly no) and an optional
// password, and the faults cluster mode must survive at hand: kill (SIGKILL:
// connections reset), pause/resume (SIGSTOP/SIGCONT: it accepts and never
// answers), restart empty on the same port (a new run_id, scripts gone).
//
//   redis_server redis;                          // or redis_server({.password = "s3cret"})
//   client_options.port = redis.port();
//   redis.call({"SET", "k", "v"});               // setup and inspection, blocking, with a deadline
//   redis.pause(); ... redis.resume();
//   redis.restart();                             // same port, empty
//
// Several can run at once (one per cluster instance). Each owns its process
// (tests/integration/harness.h `process`: own process group, killed with
// SIGKILL on destruction or when the test runner dies) and a temporary working
// directory, so a failing test leaves nothing behind. Setup failures throw
// std::runtime_error carrying the server's output.
//
// Ports: redis-server cannot bind port 0 and report what it got, so a port is
// taken from the OS (bind 0, read it back, close) and handed to the server; if
// another process grabs it in between, the server fails to bind and the start
// is retried on a fresh port.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cluster/redis_client.h"
#include "integration/harness.h"

namespace bulwark::test {

struct redis_server_options {
  std::string password;                 // --requirepass, when not empty
  std::vector<std::string> extra_args;  // appended to the command line, e.g. {"--maxmemory", "1mb"}
  milliseconds start_timeout = 10s;     // until "Ready to accept connections"
};

class redis_server {
 public:
  // Starts the server and waits until it accepts connections.
  explicit redis_server(redis_server_options options = {});
  redis_server(redis_server&&) noexcept = default;
  redis_server& operator=(redis_server&&) noexcept = default;

  std::uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  std::string address() const { return host() + ":" + std::to_string(port_); }
  const std::string& password() const { return options_.password; }
  pid_t pid() const;
  // The process exists (a paused server is running).
  bool running();
  bool paused() const { return paused_; }

  // SIGKILL, and waits until the process is gone: its connections reset.
  void kill();
  // SIGSTOP: the kernel still completes TCP handshakes (the listen backlog),
  // but nothing is read or answered until resume().
  void pause();
  void resume();
  // Kills the server if it runs and starts a new one, empty, on the same port
  // and with the same options.
  void restart();

  // One command on a fresh blocking connection (hiredis's own synchronous
  // client, not the code under test), AUTH first when the server has a
  // password. Throws std::runtime_error when the server cannot be reached or
  // does not answer within `timeout`; an error reply is returned as such.
  cluster::redis_reply call(const std::vector<std::string>& argv, milliseconds timeout = 5s) const;
  // INFO server's run_id: it changes with every start.
  std::string run_id() const;

  // The server's output, for failure messages.
  std::string describe() const;

 private:
  // Starts on port_; false when the port was taken (then nothing runs).
  bool launch();

  redis_server_options options_;
  std::uint16_t port_ = 0;
  temp_dir dir_;  // --dir: nothing lands in the working directory
  std::optional<process> proc_;
  bool paused_ = false;
};

// A TCP port on 127.0.0.1 that nobody listened on a moment ago (the OS's
// choice for a bind to port 0, then released).
std::uint16_t free_tcp_port();

// $BULWARK_REDIS_SERVER if set, else `redis-server` found on PATH; throws
// std::runtime_error when there is none.
std::string redis_server_path();

}  // namespace bulwark::test
