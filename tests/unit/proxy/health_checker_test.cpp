// health_checker and probe_endpoint against a tiny Asio HTTP server on
// 127.0.0.1 (port chosen by the OS): the probe's request line and headers, which
// answers pass (2xx) and which fail (other statuses, refused, no answer within
// the timeout, garbage), the checker flipping endpoint_health both ways, and
// update() keeping, replacing and stopping probe loops. Real sockets need real
// time: intervals are 20 ms and every wait is on a condition with a deadline.
#include "proxy/health_checker.h"

#include <gtest/gtest.h>

#include <boost/asio/write.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

namespace bulwark::proxy {
namespace {

using namespace std::chrono_literals;

// Polls `condition` until it holds or `deadline` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds deadline = 5s) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (condition()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return condition();
}

struct seen_request {
  std::string method;
  std::string target;
  std::string host;
  std::string connection;
  std::string user_agent;
};

// An HTTP/1.1 server on its own thread whose answer the test changes.
class test_server {
 public:
  enum class mode { answer, hang, garbage };

  test_server() : acceptor_(context_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    net::co_spawn(context_, accept_loop(this), net::detached);
    thread_ = std::thread([this] { context_.run(); });
  }
  ~test_server() {
    context_.stop();
    thread_.join();
  }

  tcp::endpoint endpoint() const { return acceptor_.local_endpoint(); }
  void answer(unsigned status) {
    status_.store(status);
    mode_.store(mode::answer);
  }
  void set_mode(mode m) { mode_.store(m); }
  int hits() const { return hits_.load(); }
  seen_request last_request() {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  static awaitable<void> accept_loop(test_server* self) {
    for (;;) {
      auto [ec, socket] = co_await self->acceptor_.async_accept(use_nothrow);
      if (ec) co_return;
      net::co_spawn(self->context_, serve(self, std::move(socket)), net::detached);
    }
  }

  static awaitable<void> serve(test_server* self, tcp::socket socket) {
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    auto [read_ec, n] = co_await http::async_read(socket, buffer, request, use_nothrow);
    if (read_ec) co_return;
    {
      std::lock_guard lock(self->mutex_);
      self->last_ = {std::string(request.method_string()), std::string(request.target()),
                     std::string(request[http::field::host]),
                     std::string(request[http::field::connection]),
                     std::string(request[http::field::user_agent])};
    }
    self->hits_.fetch_add(1);
    const mode m = self->mode_.load();
    if (m == mode::hang) {
      net::steady_timer never(socket.get_executor(), 1h);
      auto [ec] = co_await never.async_wait(use_nothrow);
      (void)ec;
      co_return;
    }
    std::string reply;
    if (m == mode::garbage) {
      reply = "NOT HTTP AT ALL\r\n\r\n";
    } else {
      reply = "HTTP/1.1 ";
      reply += std::to_string(self->status_.load());
      reply += " Whatever\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    }
    auto [write_ec, written] = co_await net::async_write(socket, net::buffer(reply), use_nothrow);
    (void)write_ec;
  }

  net::io_context context_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<unsigned> status_{200};
  std::atomic<mode> mode_{mode::answer};
  std::atomic<int> hits_{0};
  std::mutex mutex_;
  seen_request last_;
};

config::health_check_settings fast_settings() {
  config::health_check_settings s;
  s.path = "/healthz";
  s.interval = 20ms;
  s.timeout = 500ms;
  s.unhealthy_after = 2;
  s.healthy_after = 2;
  return s;
}

awaitable<void> probe_into(tcp::endpoint endpoint, config::health_check_settings settings,
                           std::optional<bool>* out) {
  const bool passed = co_await probe_endpoint(endpoint, std::move(settings));
  *out = passed;
}

// One probe on a private io_context, run to completion.
std::optional<bool> probe_once(tcp::endpoint endpoint, config::health_check_settings settings) {
  net::io_context context;
  std::optional<bool> result;
  net::co_spawn(context, probe_into(endpoint, std::move(settings), &result), net::detached);
  context.run();
  return result;
}

// A port with nothing listening: bound, then closed.
tcp::endpoint closed_port() {
  net::io_context context;
  tcp::acceptor acceptor(context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  auto endpoint = acceptor.local_endpoint();
  acceptor.close();
  return endpoint;
}

TEST(ProbeEndpoint, SendsGetWithHostConnectionCloseAndUserAgent) {
  test_server server;
  auto settings = fast_settings();
  settings.path = "/healthz?deep=1";
  ASSERT_EQ(probe_once(server.endpoint(), settings), true);
  const auto seen = server.last_request();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.target, "/healthz?deep=1");
  EXPECT_EQ(seen.host, "127.0.0.1:" + std::to_string(server.endpoint().port()));
  EXPECT_EQ(seen.connection, "close");
  EXPECT_EQ(seen.user_agent, "bulwark-health-check");
}

TEST(ProbeEndpoint, HostFromSettings) {
  test_server server;
  auto settings = fast_settings();
  settings.host = "api.internal";
  ASSERT_EQ(probe_once(server.endpoint(), settings), true);
  EXPECT_EQ(server.last_request().host, "api.internal");
}

TEST(ProbeEndpoint, AnyTwoHundredPassesEverythingElseFails) {
  test_server server;
  for (unsigned status : {200u, 204u, 299u}) {
    server.answer(status);
    EXPECT_EQ(probe_once(server.endpoint(), fast_settings()), true) << status;
  }
  for (unsigned status : {199u, 301u, 404u, 500u, 503u}) {
    server.answer(status);
    EXPECT_EQ(probe_once(server.endpoint(), fast_settings()), false) << status;
  }
}

TEST(ProbeEndpoint, RefusedConnectionFails) {
  EXPECT_EQ(probe_once(closed_port(), fast_settings()), false);
}

TEST(ProbeEndpoint, NoAnswerWithinTimeoutFails) {
  test_server server;
  server.set_mode(test_server::mode::hang);
  auto settings = fast_settings();
  settings.timeout = 50ms;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(probe_once(server.endpoint(), settings), false);
  EXPECT_EQ(server.hits(), 1);  // it did connect and ask
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);  // bounded by the timeout, not the server
}

TEST(ProbeEndpoint, GarbageAnswerFails) {
  test_server server;
  server.set_mode(test_server::mode::garbage);
  EXPECT_EQ(probe_once(server.endpoint(), fast_settings()), false);
}

TEST(HealthChecker, MarksUnhealthyThenHealthyAgain) {
  test_server good;
  test_server flaky;
  auto health = std::make_shared<endpoint_health>(2, fast_settings(), std::nullopt);
  health_checker checker;
  checker.update({{"api", {good.endpoint(), flaky.endpoint()}, fast_settings(), health}});
  ASSERT_TRUE(eventually([&] { return flaky.hits() >= 2; }));
  EXPECT_TRUE(health->healthy(1));

  flaky.answer(503);
  ASSERT_TRUE(eventually([&] { return !health->healthy(1); }));
  EXPECT_TRUE(health->healthy(0));
  EXPECT_EQ(health->usable_count(steady_now()), 1u);

  flaky.answer(200);
  ASSERT_TRUE(eventually([&] { return health->healthy(1); }));
  EXPECT_EQ(health->usable_count(steady_now()), 2u);
  checker.stop();
}

TEST(HealthChecker, DeadEndpointBecomesUnhealthy) {
  auto health = std::make_shared<endpoint_health>(1, fast_settings(), std::nullopt);
  health_checker checker;
  checker.update({{"api", {closed_port()}, fast_settings(), health}});
  EXPECT_TRUE(eventually([&] { return !health->healthy(0); }));
}

TEST(HealthChecker, UpdateKeepsUnchangedTargetsAndStopsRemovedOnes) {
  test_server a;
  test_server b;
  auto health_a = std::make_shared<endpoint_health>(1, fast_settings(), std::nullopt);
  auto health_b = std::make_shared<endpoint_health>(1, fast_settings(), std::nullopt);
  const health_target target_a{"a", {a.endpoint()}, fast_settings(), health_a};
  const health_target target_b{"b", {b.endpoint()}, fast_settings(), health_b};
  health_checker checker;
  checker.update({target_a, target_b});
  EXPECT_EQ(checker.loops_started_for_test(), 2u);
  ASSERT_TRUE(eventually([&] { return a.hits() >= 2 && b.hits() >= 2; }));

  // The same target again (a reload that changed nothing for it): no new loop.
  checker.update({target_a, target_b});
  EXPECT_EQ(checker.loops_started_for_test(), 2u);

  // b dropped: its loop ends. At most a probe already in flight still lands.
  checker.update({target_a});
  const int b_hits = b.hits();
  const int a_hits = a.hits();
  ASSERT_TRUE(eventually([&] { return a.hits() >= a_hits + 5; }));
  EXPECT_LE(b.hits(), b_hits + 1);
  EXPECT_EQ(checker.loops_started_for_test(), 2u);

  // Changed settings for a: a new loop replaces the old one.
  auto changed = target_a;
  changed.settings.path = "/other";
  checker.update({changed});
  EXPECT_EQ(checker.loops_started_for_test(), 3u);
  ASSERT_TRUE(eventually([&] { return a.last_request().target == "/other"; }));
  const int other_hits = a.hits();
  ASSERT_TRUE(eventually([&] { return a.hits() >= other_hits + 5; }));
  // Only the new loop probes now: every recent request asked for /other.
  EXPECT_EQ(a.last_request().target, "/other");
}

TEST(HealthChecker, IgnoresTargetsWithoutHealthOrEndpoints) {
  health_checker checker;
  checker.update({{"none", {}, fast_settings(), std::make_shared<endpoint_health>(0, fast_settings(), std::nullopt)},
                  {"null", {closed_port()}, fast_settings(), nullptr}});
  EXPECT_EQ(checker.loops_started_for_test(), 0u);
}

TEST(HealthChecker, StopIsIdempotentAndFinal) {
  test_server server;
  auto health = std::make_shared<endpoint_health>(1, fast_settings(), std::nullopt);
  health_checker checker;
  checker.update({{"api", {server.endpoint()}, fast_settings(), health}});
  ASSERT_TRUE(eventually([&] { return server.hits() >= 1; }));
  checker.stop();
  checker.stop();
  const auto probes = checker.probes_for_test();
  checker.update({{"api", {server.endpoint()}, fast_settings(), health}});
  EXPECT_EQ(checker.loops_started_for_test(), 1u);
  EXPECT_EQ(checker.probes_for_test(), probes);
}

}  // namespace
}  // namespace bulwark::proxy
