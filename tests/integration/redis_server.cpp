// A real redis-server for integration tests (see redis_server.h).
#include "integration/redis_server.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

namespace bulwark::test {

namespace {

// Names here are prefixed: the integration tests build as one translation
// unit (CMakeLists.txt, "unity build").
constexpr int redis_start_attempts = 5;

cluster::redis_reply redis_harness_convert(const redisReply& from) {
  cluster::redis_reply to;
  using kind = cluster::redis_reply::kind;
  switch (from.type) {
    case REDIS_REPLY_STRING: to.type = kind::string; break;
    case REDIS_REPLY_STATUS: to.type = kind::status; break;
    case REDIS_REPLY_ERROR: to.type = kind::error; break;
    case REDIS_REPLY_INTEGER: to.type = kind::integer; break;
    case REDIS_REPLY_ARRAY: to.type = kind::array; break;
    default: to.type = kind::nil; break;
  }
  if (from.str != nullptr) to.text.assign(from.str, from.len);
  to.integer = from.integer;
  for (std::size_t i = 0; i < from.elements; ++i) to.elements.push_back(redis_harness_convert(*from.element[i]));
  return to;
}

timeval redis_harness_timeval(milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return tv;
}

}  // namespace

std::uint16_t free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    int error = errno;
    ::close(fd);
    throw std::runtime_error(std::string("binding a free port: ") + std::strerror(error));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string redis_server_path() {
  if (const char* explicit_path = std::getenv("BULWARK_REDIS_SERVER"); explicit_path && *explicit_path) {
    return explicit_path;
  }
  const char* path = std::getenv("PATH");
  std::string_view directories = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!directories.empty()) {
    auto colon = directories.find(':');
    auto directory = directories.substr(0, colon);
    directories = colon == std::string_view::npos ? std::string_view{} : directories.substr(colon + 1);
    if (directory.empty()) continue;
    auto candidate = std::string(directory) + "/redis-server";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error("redis-server not found on PATH (set BULWARK_REDIS_SERVER)");
}

redis_server::redis_server(redis_server_options options) : options_(std::move(options)) {
  for (int attempt = 0; attempt < redis_start_attempts; ++attempt) {
    port_ = free_tcp_port();
    if (launch()) return;
  }
  throw std::runtime_error("redis-server: no free port after " + std::to_string(redis_start_attempts) +
                           " attempts:\n" + describe());
}

bool redis_server::launch() {
  std::vector<std::string> argv{redis_server_path(),
                                "--port", std::to_string(port_),
                                "--bind", "127.0.0.1",
                                "--save", "",
                                "--appendonly", "no",
                                "--daemonize", "no",
                                "--logfile", "",
                                "--dir", dir_.path()};
  if (!options_.password.empty()) {
    argv.emplace_back("--requirepass");
    argv.push_back(options_.password);
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  paused_ = false;
  proc_.emplace(std::move(argv));
  if (proc_->wait_for_line(output::out, "Ready to accept connections", options_.start_timeout)) return true;
  const auto output = proc_->stdout_text() + proc_->stderr_text();
  if (output.find("Address already in use") != std::string::npos) {
    proc_->wait_exit(5s);
    return false;
  }
  throw std::runtime_error("redis-server did not become ready on port " + std::to_string(port_) + ":\n" +
                           describe());
}

pid_t redis_server::pid() const { return proc_ ? proc_->pid() : -1; }

bool redis_server::running() { return proc_ && proc_->alive(); }

void redis_server::kill() {
  if (!proc_) return;
  proc_->signal(SIGKILL);
  if (!proc_->wait_exit(10s)) throw std::runtime_error("redis-server survived SIGKILL:\n" + describe());
  paused_ = false;
}

void redis_server::pause() {
  if (!proc_) return;
  proc_->signal(SIGSTOP);
  paused_ = true;
}

void redis_server::resume() {
  if (!proc_) return;
  proc_->signal(SIGCONT);
  paused_ = false;
}

void redis_server::restart() {
  kill();
  // The old server's port is ours: redis-server binds with SO_REUSEADDR, so
  // its connections in TIME_WAIT do not block it. Another process may still
  // have taken it meanwhile; a few retries tell that from a slow release.
  for (int attempt = 0; attempt < redis_start_attempts; ++attempt) {
    if (launch()) return;
    std::this_thread::sleep_for(200ms);
  }
  throw std::runtime_error("redis-server: port " + std::to_string(port_) + " was taken during restart:\n" +
                           describe());
}

cluster::redis_reply redis_server::call(const std::vector<std::string>& argv, milliseconds timeout) const {
  const auto tv = redis_harness_timeval(timeout);
  std::unique_ptr<redisContext, decltype(&redisFree)> context(redisConnectWithTimeout("127.0.0.1", port_, tv),
                                                              &redisFree);
  if (!context || context->err != 0) {
    throw std::runtime_error("redis_server::call: cannot connect to port " + std::to_string(port_) + ": " +
                             (context ? context->errstr : "out of memory"));
  }
  redisSetTimeout(context.get(), tv);
  auto run = [&](const std::vector<std::string>& args) {
    std::vector<const char*> pointers;
    std::vector<std::size_t> lengths;
    for (const auto& arg : args) {
      pointers.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* raw = static_cast<redisReply*>(
        redisCommandArgv(context.get(), static_cast<int>(args.size()), pointers.data(), lengths.data()));
    if (raw == nullptr) {
      throw std::runtime_error("redis_server::call: " + (args.empty() ? std::string() : args.front()) +
                               " failed: " + context->errstr);
    }
    auto reply = redis_harness_convert(*raw);
    freeReplyObject(raw);
    return reply;
  };
  if (!options_.password.empty()) {
    auto auth = run({"AUTH", options_.password});
    if (auth.is_error()) throw std::runtime_error("redis_server::call: AUTH failed: " + auth.text);
  }
  return run(argv);
}

std::string redis_server::run_id() const {
  return cluster::parse_run_id(call({"INFO", "server"}).text);
}

std::string redis_server::describe() const {
  if (!proc_) return "redis-server (not started)";
  return "redis-server on port " + std::to_string(port_) + ":\n" + proc_->describe();
}

}  // namespace bulwark::test
