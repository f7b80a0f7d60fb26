// Issue 5's chaos scenarios: the real binary in front of scripted upstreams
// that fail, stall, reset and die on cue. Each test asserts numbers counted at
// the upstream (requests, arrival times), not only that "it works".
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "integration/harness.h"
#include "integration/scripted_upstream.h"

namespace bulwark::test {
namespace {

using clock_type = std::chrono::steady_clock;

struct gateway_setup {
  std::string upstream_extra;  // more fields of the upstream, YAML lines indented 4
  std::string route_extra;     // more fields of the route, indented 4
  std::vector<std::string> endpoints;
  std::string workers = "1";
};

std::string gateway_yaml(const gateway_setup& setup) {
  std::string endpoints;
  for (const auto& endpoint : setup.endpoints) {
    if (!endpoints.empty()) endpoints += ", ";
    endpoints += endpoint;
  }
  std::string yaml = "workers: " + setup.workers + "\n";
  yaml += "listeners:\n  - name: public\n    address: 127.0.0.1:0\n";
  yaml += "upstreams:\n  - name: api\n    endpoints: [" + endpoints + "]\n";
  yaml += setup.upstream_extra;
  yaml += "routes:\n  - name: main\n    match: {path_prefix: /}\n    upstream: api\n";
  yaml += setup.route_extra;
  yaml += "observability: {access_log: off}\nadmin: {address: 127.0.0.1:0}\n";
  return yaml;
}

std::optional<http_response> request(std::uint16_t port, std::string_view method,
                                     std::string_view body = {}) {
  http_connection connection;
  if (!connection.connect(port)) return std::nullopt;
  if (!connection.send(format_request(method, "/", port, {}, body))) return std::nullopt;
  return connection.read_response(10s);
}

int status_of(std::uint16_t port, std::string_view method = "GET") {
  const auto response = request(port, method);
  return response ? response->status : 0;
}

// The value of one series in the gateway's /metrics, or -1 when absent.
double metric(const bulwark_instance& gateway, std::string_view series) {
  const auto scraped = http_get(gateway.admin_port, "/metrics");
  if (!scraped) return -1;
  const std::string wanted = std::string(series) + " ";
  const auto& text = scraped->body;
  const auto at = text.find("\n" + wanted);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + 1 + wanted.size()));
}

scripted_response answer(int status, std::chrono::milliseconds delay = 0ms) {
  scripted_response response;
  response.status = status;
  response.delay = delay;
  return response;
}

TEST(Resilience, BreakerOpensAfterMinRequestsThenProbesExactlyAndCloses) {
  std::atomic<bool> healthy{false};
  scripted_upstream upstream([&](const scripted_request&, std::size_t) {
    return healthy ? answer(200, 300ms) : answer(500);
  });
  auto gateway = start_bulwark(gateway_yaml(
      {.upstream_extra = "    circuit_breaker: {window: 10s, min_requests: 10, failure_rate: 0.5,"
                         " open_for: 1s, half_open_requests: 2}\n",
       .endpoints = {upstream.address()}}));
  const auto port = gateway.port("public");

  for (int i = 0; i < 10; ++i) EXPECT_EQ(status_of(port), 500) << i;
  EXPECT_EQ(upstream.count(), 10u);

  // Open: answered at once, the upstream sees nothing.
  for (int i = 0; i < 5; ++i) {
    const auto refused = request(port, "GET");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 503);
    EXPECT_EQ(refused->header("Content-Type"), "application/problem+json");
    EXPECT_GE(std::stoi(refused->header("Retry-After")), 1);
  }
  EXPECT_EQ(upstream.count(), 10u);
  EXPECT_EQ(metric(gateway, "bulwark_circuit_breaker_state{upstream=\"api\"}"), 1);
  const auto status = http_get(gateway.admin_port, "/admin/status");
  ASSERT_TRUE(status);
  const auto breaker = nlohmann::json::parse(status->body)["upstreams"][0]["circuit_breaker"];
  EXPECT_EQ(breaker["state"], "open");
  EXPECT_GT(breaker["open_for_ms"].get<int>(), 0);

  healthy = true;
  std::this_thread::sleep_for(1100ms);
  // Half-open: six at once, exactly two probes reach the upstream.
  std::vector<int> statuses(6);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    clients.emplace_back([&, i] { statuses[i] = status_of(port); });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 2);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 503), 4);
  EXPECT_EQ(upstream.count(), 12u);

  // Both probes succeeded: closed again, everything goes through.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(status_of(port), 200);
  EXPECT_EQ(upstream.count(), 15u);
  EXPECT_EQ(metric(gateway, "bulwark_circuit_breaker_state{upstream=\"api\"}"), 0);
}

TEST(Resilience, OpenBreakerAnswersWithTheRoutesFallback) {
  scripted_upstream upstream([](const scripted_request&, std::size_t) { return answer(502); });
  auto gateway = start_bulwark(gateway_yaml(
      {.upstream_extra = "    circuit_breaker: {min_requests: 2, failure_rate: 0.5, open_for: 30s}\n",
       .route_extra = "    fallback: {status: 200, body: '{\"degraded\":true}'}\n",
       .endpoints = {upstream.address()}}));
  const auto port = gateway.port("public");
  EXPECT_EQ(status_of(port), 502);
  EXPECT_EQ(status_of(port), 502);
  const auto fallback = request(port, "GET");
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->status, 200);
  EXPECT_EQ(fallback->body, "{\"degraded\":true}");
  EXPECT_EQ(fallback->header("Content-Type"), "application/json");
  EXPECT_GE(std::stoi(fallback->header("Retry-After")), 29);
  EXPECT_EQ(upstream.count(), 2u);
}

TEST(Resilience, RetryStormStaysInsideTheBudget) {
  scripted_upstream upstream([](const scripted_request&, std::size_t) { return answer(503); });
  auto gateway = start_bulwark(gateway_yaml(
      {.route_extra = "    retry: {attempts: 3, backoff: {base: 1ms, max: 5ms},"
                      " budget: {ratio: 0.2, min_per_s: 1, window: 10s}}\n",
       .endpoints = {upstream.address()}}));
  const auto port = gateway.port("public");
  constexpr int requests = 100;
  for (int i = 0; i < requests; ++i) EXPECT_EQ(status_of(port), 503);
  // (1 + ratio) × requests + min_per_s × window.
  const double bound = (1 + 0.2) * requests + 1 * 10;
  EXPECT_LE(static_cast<double>(upstream.count()), bound);
  EXPECT_GT(upstream.count(), static_cast<std::size_t>(requests));  // it did retry
  EXPECT_EQ(metric(gateway, "bulwark_upstream_retries_total{upstream=\"api\",reason=\"503\"}"),
            static_cast<double>(upstream.count() - requests));
}

TEST(Resilience, UpstreamRetryAfterSetsTheWait) {
  scripted_upstream upstream([](const scripted_request&, std::size_t index) {
    if (index > 0) return answer(200);
    auto busy = answer(503);
    busy.headers.emplace_back("Retry-After", "2");
    return busy;
  });
  auto gateway = start_bulwark(gateway_yaml(
      {.route_extra = "    timeout: 5s\n    retry: {attempts: 2, backoff: {base: 10ms, max: 20ms}}\n",
       .endpoints = {upstream.address()}}));
  EXPECT_EQ(status_of(gateway.port("public")), 200);
  const auto seen = upstream.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_GE(seen[1].arrived - seen[0].arrived, 2s);
}

TEST(Resilience, RetryAfterBeyondTheRouteTimeoutIsNotWaitedFor) {
  scripted_upstream upstream([](const scripted_request&, std::size_t) {
    auto busy = answer(503);
    busy.headers.emplace_back("Retry-After", "10");
    return busy;
  });
  auto gateway = start_bulwark(gateway_yaml(
      {.route_extra = "    timeout: 2s\n    retry: {attempts: 3}\n",
       .endpoints = {upstream.address()}}));
  const auto started = clock_type::now();
  EXPECT_EQ(status_of(gateway.port("public")), 503);
  EXPECT_LT(clock_type::now() - started, 1s);
  EXPECT_EQ(upstream.count(), 1u);
}

TEST(Resilience, PostIsNotRetriedByDefaultButGetIs) {
  scripted_upstream upstream([](const scripted_request&, std::size_t) { return answer(503); });
  auto gateway = start_bulwark(gateway_yaml(
      {.route_extra = "    retry: {attempts: 3, backoff: {base: 1ms, max: 2ms}}\n",
       .endpoints = {upstream.address()}}));
  const auto port = gateway.port("public");
  const auto posted = request(port, "POST", "payload");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 503);
  EXPECT_EQ(upstream.count(), 1u);
  EXPECT_EQ(status_of(port, "GET"), 503);
  EXPECT_EQ(upstream.count(), 4u);
}

TEST(Resilience, ReplayedBodyReachesTheUpstreamWholeOnEveryTry) {
  scripted_upstream upstream([](const scripted_request&, std::size_t index) {
    return answer(index == 0 ? 503 : 200);
  });
  auto gateway = start_bulwark(gateway_yaml(
      {.route_extra = "    retry: {attempts: 2, methods: [PUT], backoff: {base: 1ms, max: 2ms}}\n",
       .endpoints = {upstream.address()}}));
  const std::string body(5000, 'x');
  const auto put = request(gateway.port("public"), "PUT", body);
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  const auto seen = upstream.requests();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].body, body);
  EXPECT_EQ(seen[1].body, body);
}

TEST(Resilience, SlowEndpointIsRetriedElsewhereThenEjected) {
  scripted_upstream slow([](const scripted_request&, std::size_t) { return answer(200, 1500ms); });
  scripted_upstream fast([](const scripted_request&, std::size_t) { return answer(200); });
  auto gateway = start_bulwark(gateway_yaml(
      {.upstream_extra = "    outlier_detection: {consecutive_failures: 2, eject_for: 30s,"
                         " max_ejected: 0.5}\n",
       .route_extra = "    retry: {attempts: 2, per_try_timeout: 200ms,"
                      " backoff: {base: 1ms, max: 2ms}}\n",
       .endpoints = {slow.address(), fast.address()}}));
  const auto port = gateway.port("public");
  for (int i = 0; i < 10; ++i) {
    const auto started = clock_type::now();
    EXPECT_EQ(status_of(port), 200) << i;
    EXPECT_LT(clock_type::now() - started, 1s) << i;
  }
  // Two timeouts eject the slow endpoint; it sees nothing after that.
  EXPECT_EQ(slow.count(), 2u);
  EXPECT_EQ(fast.count(), 10u);
  EXPECT_EQ(metric(gateway, "bulwark_upstream_ejections_total{upstream=\"api\"}"), 1);
}

TEST(Resilience, KilledUpstreamUnderLoadLeavesNoRequestHanging) {
  scripted_upstream upstream([](const scripted_request&, std::size_t) { return answer(200, 20ms); });
  auto gateway = start_bulwark(gateway_yaml(
      {.upstream_extra = "    connect_timeout: 500ms\n",
       .route_extra = "    timeout: 2s\n",
       .endpoints = {upstream.address()},
       .workers = "2"}));
  const auto port = gateway.port("public");
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0}, unanswered{0}, too_slow{0}, after_kill{0};
  std::atomic<bool> killed{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&] {
      while (!stop) {
        const auto started = clock_type::now();
        const auto response = request(port, "GET");
        const auto took = clock_type::now() - started;
        if (!response) {
          ++unanswered;
          continue;
        }
        ++answered;
        if (killed && response->status >= 500) ++after_kill;
        if (took > 2500ms) ++too_slow;  // the route timeout plus scheduling slack
      }
    });
  }
  std::this_thread::sleep_for(1s);
  upstream.stop();
  killed = true;
  std::this_thread::sleep_for(1500ms);
  stop = true;
  for (auto& client : clients) client.join();
  EXPECT_EQ(unanswered, 0);
  EXPECT_EQ(too_slow, 0);
  EXPECT_GT(answered, 50);
  EXPECT_GT(after_kill, 0);  // failures were answered, as 502/503/504
}

TEST(Resilience, FaultInjectionAbortsAndDelays) {
  scripted_upstream upstream([](const scripted_request&, std::size_t) { return answer(200); });
  auto aborting = start_bulwark(gateway_yaml(
      {.route_extra = "    fault: {abort: {percent: 100, status: 503}}\n",
       .endpoints = {upstream.address()}}));
  const auto aborted = request(aborting.port("public"), "GET");
  ASSERT_TRUE(aborted);
  EXPECT_EQ(aborted->status, 503);
  EXPECT_EQ(upstream.count(), 0u);

  auto delaying = start_bulwark(gateway_yaml(
      {.route_extra = "    fault: {delay: {percent: 100, duration: 300ms}}\n",
       .endpoints = {upstream.address()}}));
  const auto started = clock_type::now();
  EXPECT_EQ(status_of(delaying.port("public")), 200);
  EXPECT_GE(clock_type::now() - started, 300ms);
  EXPECT_EQ(upstream.count(), 1u);
}

TEST(Resilience, FixedConcurrencyLimitShedsAtOnce) {
  scripted_upstream upstream([](const scripted_request&, std::size_t) { return answer(200, 500ms); });
  auto gateway = start_bulwark(gateway_yaml(
      {.upstream_extra = "    concurrency: {limit: 2}\n", .endpoints = {upstream.address()}}));
  const auto port = gateway.port("public");
  std::vector<int> statuses(6);
  std::vector<clock_type::duration> took(6);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    clients.emplace_back([&, i] {
      const auto started = clock_type::now();
      statuses[i] = status_of(port);
      took[i] = clock_type::now() - started;
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200), 2);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 503), 4);
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i] == 503) {
      EXPECT_LT(took[i], 300ms) << "shed at once, not queued";
    }
  }
  EXPECT_EQ(upstream.count(), 2u);
}

TEST(Resilience, AdaptiveLimitFallsWhenLatencyRisesUnderOverload) {
  // A server with room for 4 requests at once: beyond that, latency climbs
  // with every request it holds, as when a saturated server queues.
  std::atomic<int> inflight{0};
  scripted_upstream upstream([&](const scripted_request&, std::size_t) {
    const int now_inflight = ++inflight;
    std::this_thread::sleep_for(std::chrono::milliseconds(now_inflight <= 4 ? 2 : 20 * now_inflight));
    --inflight;
    return answer(200);
  });
  auto gateway = start_bulwark(gateway_yaml(
      {.upstream_extra = "    concurrency: {adaptive: {algorithm: gradient2, min: 2, max: 100,"
                         " initial: 20}}\n",
       .endpoints = {upstream.address()},
       .workers = "2"}));
  const auto port = gateway.port("public");
  const auto limit = [&] {
    return metric(gateway, "bulwark_upstream_concurrency_limit{upstream=\"api\"}");
  };
  std::atomic<int> clients_wanted{4};
  std::atomic<bool> stop{false};
  std::atomic<int> shed{0}, shed_slowly{0}, ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 48; ++i) {
    clients.emplace_back([&, i] {
      http_connection connection(port);
      while (!stop) {
        if (i >= clients_wanted) {
          std::this_thread::sleep_for(10ms);
          continue;
        }
        const auto started = clock_type::now();
        if (!connection.send(format_request("GET", "/", port))) return;
        const auto response = connection.read_response(10s);
        if (!response) return;
        if (response->status == 503) {
          ++shed;
          if (clock_type::now() - started > 100ms) ++shed_slowly;
        } else if (response->status == 200) {
          ++ok;
        }
      }
    });
  }
  std::this_thread::sleep_for(1500ms);  // light load: the limit learns the normal latency
  const double learned = limit();
  const int shed_before = shed;
  clients_wanted = 48;                  // overload
  double lowest = learned;
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(100ms);
    lowest = std::min(lowest, limit());
  }
  stop = true;
  for (auto& client : clients) client.join();
  EXPECT_EQ(shed_before, 0);
  EXPECT_GT(ok, 100);
  EXPECT_LT(lowest, learned / 2) << "learned " << learned;  // the limit fell under overload
  EXPECT_GT(shed, 0);         // the excess was shed...
  EXPECT_EQ(shed_slowly, 0);  // ...at once, not after queueing
}

}  // namespace
}  // namespace bulwark::test
