// The Redis client (src/cluster/redis_client.h) against a real redis-server:
// round trips, pipelining, AUTH, SELECT, and the three faults cluster mode is
// built for: a refused connect, a server that stops answering (SIGSTOP), a
// server restarted (connection reset, scripts gone, a new run_id).
//
// The client's io_context runs on a thread of the test (as the gateway runs it
// on its main thread); the test thread waits on it with deadlines. The only
// timed assertions are generous upper bounds.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cluster/redis_client.h"
#include "integration/harness.h"
#include "integration/redis_server.h"

namespace bulwark::test {
namespace {

namespace net = boost::asio;
using cluster::redis_client;
using cluster::redis_errc;
using cluster::redis_options;
using cluster::redis_reply;
using cluster::redis_result;
using cluster::redis_script;

// The io thread of the client: runs until destroyed.
class redis_io_thread {
 public:
  redis_io_thread() : guard_(net::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~redis_io_thread() {
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  redis_io_thread(const redis_io_thread&) = delete;
  redis_io_thread& operator=(const redis_io_thread&) = delete;

  net::io_context& io() { return io_; }

  // Runs `task` on the io thread and waits for its result, at most `deadline`.
  template <class T>
  T run(net::awaitable<T> task, milliseconds deadline = 10s) {
    auto future = start(std::move(task));
    if (future.wait_for(deadline) != std::future_status::ready) {
      throw std::runtime_error("the client's coroutine did not complete within the deadline");
    }
    return future.get();
  }

  template <class T>
  std::future<T> start(net::awaitable<T> task) {
    return net::co_spawn(io_, std::move(task), net::use_future);
  }

 private:
  net::io_context io_;
  net::executor_work_guard<net::io_context::executor_type> guard_;
  std::thread thread_;
};

// What the client's hooks reported (called on the io thread); declared before
// the io thread, so it outlives every call that thread makes.
class redis_hook_log {
 public:
  void attach(redis_client& client) {
    client.on_connected = [this](const std::string& run_id) {
      std::lock_guard lock(mutex_);
      run_ids_.push_back(run_id);
    };
    client.on_lost = [this](std::string_view reason) {
      std::lock_guard lock(mutex_);
      lost_.emplace_back(reason);
    };
  }
  std::vector<std::string> run_ids() const {
    std::lock_guard lock(mutex_);
    return run_ids_;
  }
  std::vector<std::string> lost() const {
    std::lock_guard lock(mutex_);
    return lost_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> run_ids_;
  std::vector<std::string> lost_;
};

// Everything written to stderr (the client's JSON log lines) while alive.
class redis_stderr_capture {
 public:
  redis_stderr_capture() : path_(dir_.file("stderr")) {
    saved_ = ::dup(STDERR_FILENO);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (saved_ < 0 || fd < 0) throw std::runtime_error("cannot capture stderr");
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
  }
  ~redis_stderr_capture() { restore(); }
  void restore() {
    if (saved_ < 0) return;
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    saved_ = -1;
  }
  // Stops capturing and returns what was captured.
  std::string finish() {
    restore();
    return read_file(path_);
  }

 private:
  temp_dir dir_;
  std::string path_;
  int saved_ = -1;
};

redis_options redis_test_options(const redis_server& server, milliseconds timeout = 1s) {
  redis_options options;
  options.host = server.host();
  options.port = server.port();
  options.password = server.password();
  options.timeout = timeout;
  options.reconnect_base = 10ms;
  options.reconnect_max = 200ms;
  return options;
}

// Polls `condition` until it holds or `deadline` passes.
bool redis_eventually(const std::function<bool()>& condition, milliseconds deadline = 10s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// stop(), then a command: stop() is posted to the io thread and the command is
// ordered after it, so it must find the client stopped.
void redis_stop_and_check(redis_io_thread& thread, redis_client& client) {
  client.stop();
  EXPECT_EQ(thread.run(client.command({"PING"})).error, redis_errc::disconnected);
}

std::string redis_describe(const redis_result& result) {
  if (result.ok()) return "ok";
  return std::string(cluster::to_string(*result.error)) + " " + result.reply.text;
}

// A redis-server, the io thread, and a client on them, started and connected
// by connect(). Members in this order: the client goes first, then the io
// thread, then the hooks its calls reach, then the server.
class RedisClient : public ::testing::Test {
 protected:
  redis_client& connect() { return connect(redis_test_options(server)); }
  redis_client& connect(redis_options options) {
    client_.emplace(thread.io(), std::move(options));
    hooks.attach(*client_);
    client_->start();
    if (!redis_eventually([&] { return client_->connected(); })) {
      throw std::runtime_error("the client did not connect:\n" + server.describe());
    }
    return *client_;
  }

  redis_server server;
  redis_hook_log hooks;
  redis_io_thread thread;

 private:
  std::optional<redis_client> client_;
};

TEST_F(RedisClient, RoundTripsEveryReplyType) {
  auto& client = connect();

  auto set = thread.run(client.command({"SET", "greeting", "hello"}));
  ASSERT_TRUE(set.ok()) << redis_describe(set);
  EXPECT_TRUE(set.reply.is_text("OK"));
  EXPECT_EQ(set.reply.type, redis_reply::kind::status);

  auto get = thread.run(client.command({"GET", "greeting"}));
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.reply.type, redis_reply::kind::string);
  EXPECT_EQ(get.reply.text, "hello");

  auto missing = thread.run(client.command({"GET", "nothing-here"}));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing.reply.type, redis_reply::kind::nil);

  auto incr = thread.run(client.command({"INCRBY", "n", "41"}));
  ASSERT_TRUE(incr.ok());
  EXPECT_EQ(incr.reply.type, redis_reply::kind::integer);
  EXPECT_EQ(incr.reply.integer, 41);

  std::string binary("a\0\r\nb", 5);
  ASSERT_TRUE(thread.run(client.command({"RPUSH", "list", binary, ""})).ok());
  auto range = thread.run(client.command({"LRANGE", "list", "0", "-1"}));
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range.reply.type, redis_reply::kind::array);
  ASSERT_EQ(range.reply.elements.size(), 2u);
  EXPECT_EQ(range.reply.elements[0].text, binary);
  EXPECT_EQ(range.reply.elements[1].text, "");

  // An error reply is a server error, and the connection stays up.
  auto wrong = thread.run(client.command({"INCR", "greeting"}));
  ASSERT_EQ(wrong.error, redis_errc::server);
  EXPECT_EQ(wrong.reply.type, redis_reply::kind::error);
  EXPECT_NE(wrong.reply.text.find("not an integer"), std::string::npos) << wrong.reply.text;
  EXPECT_TRUE(client.connected());
  EXPECT_TRUE(thread.run(client.command({"PING"})).reply.is_text("PONG"));

  // The hook saw the server's run_id, and the counters what happened.
  ASSERT_EQ(hooks.run_ids().size(), 1u);
  EXPECT_EQ(hooks.run_ids().front(), server.run_id());
  EXPECT_TRUE(hooks.lost().empty());
  auto counters = client.counters();
  EXPECT_EQ(counters.connects, 1u);
  EXPECT_EQ(counters.timeouts, 0u);
  EXPECT_EQ(counters.errors, 1u);
  EXPECT_GE(counters.commands, 8u);
}

TEST_F(RedisClient, PipelinesConcurrentCommandsInOrder) {
  auto& client = connect(redis_test_options(server, 5s));

  // All the commands are issued from the io thread before any reply can be
  // read: each coroutine writes without waiting for the others' replies, and
  // replies are matched in order, so the i-th INCR sees i + 1 and every GET
  // sees the value its own coroutine set.
  constexpr int count = 500;
  std::vector<std::future<redis_result>> incrs;
  std::vector<std::future<redis_result>> gets;
  std::promise<void> issued;
  net::post(thread.io(), [&] {
    for (int i = 0; i < count; ++i) {
      incrs.push_back(net::co_spawn(thread.io(), client.command({"INCR", "counter"}), net::use_future));
      auto key = "key:" + std::to_string(i);
      net::co_spawn(thread.io(), client.command({"SET", key, "value-" + std::to_string(i)}), net::detached);
      gets.push_back(net::co_spawn(thread.io(), client.command({"GET", key}), net::use_future));
    }
    issued.set_value();
  });
  ASSERT_EQ(issued.get_future().wait_for(10s), std::future_status::ready);
  for (int i = 0; i < count; ++i) {
    ASSERT_EQ(incrs[i].wait_for(20s), std::future_status::ready) << i;
    auto incr = incrs[i].get();
    ASSERT_TRUE(incr.ok()) << i << ": " << redis_describe(incr);
    EXPECT_EQ(incr.reply.integer, i + 1);
    ASSERT_EQ(gets[i].wait_for(20s), std::future_status::ready) << i;
    auto get = gets[i].get();
    ASSERT_TRUE(get.ok()) << i << ": " << redis_describe(get);
    EXPECT_EQ(get.reply.text, "value-" + std::to_string(i));
  }
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.counters().timeouts, 0u);
}

TEST(RedisClientAuth, AuthenticatesWithThePasswordAndNeverLogsIt) {
  const std::string password = "correct-horse-battery-9f2c";
  const std::string wrong_password = "wrong-staple-77a1";
  redis_server server({.password = password});
  redis_hook_log wrong_hooks;
  redis_io_thread thread;

  redis_client good(thread.io(), redis_test_options(server));
  good.start();
  ASSERT_TRUE(redis_eventually([&] { return good.connected(); })) << server.describe();
  EXPECT_TRUE(thread.run(good.command({"PING"})).reply.is_text("PONG"));

  redis_stderr_capture captured;
  auto wrong_options = redis_test_options(server);
  wrong_options.password = wrong_password;
  redis_client wrong(thread.io(), wrong_options);
  wrong_hooks.attach(wrong);
  wrong.start();
  auto no_password_options = redis_test_options(server);
  no_password_options.password.clear();
  redis_client anonymous(thread.io(), no_password_options);
  anonymous.start();

  ASSERT_TRUE(redis_eventually([&] { return wrong.counters().connect_failures >= 3; }));
  ASSERT_TRUE(redis_eventually([&] { return anonymous.counters().connect_failures >= 3; }));
  EXPECT_FALSE(wrong.connected());
  EXPECT_FALSE(anonymous.connected());
  EXPECT_TRUE(wrong_hooks.run_ids().empty());
  auto refused = thread.run(wrong.command({"PING"}));
  EXPECT_EQ(refused.error, redis_errc::disconnected);
  wrong.stop();
  anonymous.stop();
  redis_stop_and_check(thread, good);
  const auto log = captured.finish();
  EXPECT_NE(log.find("\"msg\":\"redis connect failed\""), std::string::npos) << log;
  EXPECT_NE(log.find("WRONGPASS"), std::string::npos) << log;
  EXPECT_NE(log.find("NOAUTH"), std::string::npos) << log;
  EXPECT_EQ(log.find(password), std::string::npos) << log;
  EXPECT_EQ(log.find(wrong_password), std::string::npos) << log;
  // One line per streak of the same failure, not one per attempt.
  for (const auto& line : json_lines(log)) {
    EXPECT_TRUE(line.value("msg", "") != "redis connect failed" || line.value("attempts", 0) == 1) << line.dump();
  }
}

TEST_F(RedisClient, SelectsTheConfiguredDatabase) {
  auto options = redis_test_options(server);
  options.db = 3;
  auto& client = connect(options);
  ASSERT_TRUE(thread.run(client.command({"SET", "where", "three"})).ok());

  EXPECT_EQ(server.call({"EXISTS", "where"}).integer, 0);  // db 0
  auto in_three = server.call({"EVAL", "redis.call('SELECT', 3) return redis.call('GET', KEYS[1])", "1", "where"});
  EXPECT_EQ(in_three.text, "three");
}

TEST_F(RedisClient, TimesOutOnAServerThatStopsAnsweringAndRecoversAfterIt) {
  const auto timeout = 300ms;
  auto& client = connect(redis_test_options(server, timeout));
  ASSERT_TRUE(thread.run(client.command({"SET", "k", "v"})).ok());

  server.pause();
  const auto started = std::chrono::steady_clock::now();
  auto result = thread.run(client.command({"GET", "k"}));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(result.error, redis_errc::timeout) << redis_describe(result);
  EXPECT_GE(elapsed, timeout);
  EXPECT_LT(elapsed, timeout + 5s);  // a generous bound: "about the timeout", not "never"
  // The reply stream cannot be trusted any more: the connection is dropped.
  EXPECT_FALSE(client.connected());
  ASSERT_TRUE(redis_eventually([&] { return hooks.lost().size() == 1; }));
  EXPECT_NE(hooks.lost().front().find("timed out"), std::string::npos) << hooks.lost().front();
  EXPECT_EQ(client.counters().timeouts, 1u);

  // While it is paused the kernel still accepts connections; the handshake
  // times out and the client keeps trying. Commands fail at once meanwhile.
  ASSERT_TRUE(redis_eventually([&] { return client.counters().connect_failures >= 1; }));
  EXPECT_FALSE(client.connected());
  EXPECT_EQ(thread.run(client.command({"GET", "k"})).error, redis_errc::disconnected);

  server.resume();
  ASSERT_TRUE(redis_eventually([&] { return client.connected(); }));
  auto after = thread.run(client.command({"GET", "k"}));
  ASSERT_TRUE(after.ok()) << redis_describe(after);
  EXPECT_EQ(after.reply.text, "v");
  EXPECT_EQ(hooks.run_ids().size(), 2u);
  EXPECT_EQ(hooks.run_ids()[0], hooks.run_ids()[1]);  // the same server, not a restart
}

TEST(RedisClientRefused, RetriesARefusedConnectionUntilTheServerComesUp) {
  redis_server server;
  server.kill();  // its port is now closed: connects are refused
  redis_io_thread thread;
  redis_stderr_capture captured;
  redis_client client(thread.io(), redis_test_options(server));
  client.start();
  ASSERT_TRUE(redis_eventually([&] { return client.counters().connect_failures >= 3; }));
  EXPECT_FALSE(client.connected());
  auto early = thread.run(client.command({"PING"}));
  EXPECT_EQ(early.error, redis_errc::disconnected);

  server.restart();
  ASSERT_TRUE(redis_eventually([&] { return client.connected(); })) << server.describe();
  EXPECT_TRUE(thread.run(client.command({"PING"})).reply.is_text("PONG"));
  redis_stop_and_check(thread, client);
  const auto log = captured.finish();
  EXPECT_NE(log.find("Connection refused"), std::string::npos) << log;
  EXPECT_NE(log.find("\"msg\":\"redis connected\""), std::string::npos) << log;
}

TEST_F(RedisClient, ReconnectsAfterTheServerIsKilledAndRestarted) {
  auto& client = connect();
  ASSERT_TRUE(thread.run(client.command({"SET", "k", "v"})).ok());
  const auto first_run_id = server.run_id();

  server.kill();
  ASSERT_TRUE(redis_eventually([&] { return !client.connected(); }));
  ASSERT_TRUE(redis_eventually([&] { return hooks.lost().size() == 1; }));
  EXPECT_EQ(thread.run(client.command({"GET", "k"})).error, redis_errc::disconnected);

  server.restart();
  ASSERT_TRUE(redis_eventually([&] { return client.connected(); })) << server.describe();
  auto after = thread.run(client.command({"GET", "k"}));
  ASSERT_TRUE(after.ok()) << redis_describe(after);
  EXPECT_EQ(after.reply.type, redis_reply::kind::nil);  // restarted empty

  const auto run_ids = hooks.run_ids();
  ASSERT_EQ(run_ids.size(), 2u);
  EXPECT_EQ(run_ids[0], first_run_id);
  EXPECT_EQ(run_ids[1], server.run_id());
  EXPECT_NE(run_ids[0], run_ids[1]);
  EXPECT_EQ(client.counters().connects, 2u);
}

TEST_F(RedisClient, EvalLoadsScriptsAgainAfterARestart) {
  auto& client = connect();

  const redis_script script("return {KEYS[1], ARGV[1], redis.call('INCR', KEYS[1])}");
  // The digest computed locally is the one the server names the script by.
  EXPECT_EQ(server.call({"SCRIPT", "LOAD", script.source()}).text, script.sha1());
  server.call({"SCRIPT", "FLUSH"});

  auto first = thread.run(client.eval(script, {"hits"}, {"arg"}));
  ASSERT_TRUE(first.ok()) << redis_describe(first);
  ASSERT_EQ(first.reply.elements.size(), 3u);
  EXPECT_EQ(first.reply.elements[0].text, "hits");
  EXPECT_EQ(first.reply.elements[1].text, "arg");
  EXPECT_EQ(first.reply.elements[2].integer, 1);
  EXPECT_EQ(server.call({"SCRIPT", "EXISTS", script.sha1()}).elements.at(0).integer, 1);

  // Loaded: the next call is one EVALSHA.
  const auto before = client.counters().commands;
  auto second = thread.run(client.eval(script, {"hits"}, {"arg"}));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second.reply.elements[2].integer, 2);
  EXPECT_EQ(client.counters().commands, before + 1);

  server.restart();  // scripts and data gone
  ASSERT_TRUE(redis_eventually([&] { return client.connected() && hooks.run_ids().size() == 2; }));
  auto after = thread.run(client.eval(script, {"hits"}, {"again"}));
  ASSERT_TRUE(after.ok()) << redis_describe(after);
  EXPECT_EQ(after.reply.elements[1].text, "again");
  EXPECT_EQ(after.reply.elements[2].integer, 1);
  EXPECT_EQ(server.call({"SCRIPT", "EXISTS", script.sha1()}).elements.at(0).integer, 1);

  // A script that fails is a server error, and not loaded again and again.
  const redis_script failing("return redis.call('NO-SUCH-COMMAND')");
  auto failed = thread.run(client.eval(failing, {}, {}));
  EXPECT_EQ(failed.error, redis_errc::server);
  EXPECT_EQ(failed.reply.text.find("NOSCRIPT"), std::string::npos) << failed.reply.text;
}

TEST_F(RedisClient, ServerTimeIsRedisClock) {
  auto& client = connect();

  redis_result error;
  auto first = thread.run(client.server_time(&error));
  ASSERT_TRUE(first.has_value()) << redis_describe(error);
  auto second = thread.run(client.server_time());
  ASSERT_TRUE(second.has_value());
  EXPECT_GE(*second, *first);
  // The same machine: the server's clock is ours, give or take a generous minute.
  const auto ours = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  EXPECT_LT(std::chrono::abs(ours - *first), std::chrono::microseconds(60s));

  redis_stop_and_check(thread, client);
  redis_result stopped;
  EXPECT_FALSE(thread.run(client.server_time(&stopped)).has_value());
  EXPECT_EQ(stopped.error, redis_errc::disconnected);
}

TEST_F(RedisClient, StopFailsPendingCommandsWithDisconnected) {
  auto& client = connect(redis_test_options(server, 30s));
  const auto written = client.counters().commands;

  server.pause();  // the command is written and never answered
  auto pending = thread.start(client.command({"PING"}));
  ASSERT_TRUE(redis_eventually([&] { return client.counters().commands > written; }));
  client.stop();
  // Long before its 30 s timeout: stop() fails it, as disconnected.
  ASSERT_EQ(pending.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(pending.get().error, redis_errc::disconnected);
  EXPECT_FALSE(client.connected());
  EXPECT_TRUE(hooks.lost().empty());  // a stop is not a loss
  server.resume();

  // start() after stop() connects again.
  client.start();
  ASSERT_TRUE(redis_eventually([&] { return client.connected(); }));
  EXPECT_TRUE(thread.run(client.command({"PING"})).reply.is_text("PONG"));
}

TEST_F(RedisClient, ResolvesHostNames) {
  auto options = redis_test_options(server);
  options.host = "localhost";  // may resolve to ::1 first, where nothing listens: the next address is tried
  auto& client = connect(options);
  EXPECT_TRUE(thread.run(client.command({"PING"})).reply.is_text("PONG"));
}

}  // namespace
}  // namespace bulwark::test
