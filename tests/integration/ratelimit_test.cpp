// Local rate limiting against the real binary (issue 6 §1): accuracy under
// twice the allowed load for each algorithm, the fields and the 429 of every
// refusal, and Retry-After kept as a promise.
//
// Accuracy. 10 s of load, as the issue asks, at twice 50/s with a burst of
// 10: ~510 admissions, so the 1% bound is ~5 requests. The count compared is the gateway's own (the `allow` series of
// bulwark_ratelimit_decisions_total), and the time is the client's: the
// limiter decided every request between the first request's send and the
// last response's arrival (t_max), and at least over the span from the first
// response to the last send (t_min). So for token_bucket and gcra
//   admitted <= (burst + rate * t_max) * 1.01,  admitted >= (burst + rate * t_min) * 0.99.
// The sliding window has no burst: its first window admits up to `count`
// however late it starts, then about `count` per window under steady load
// (one unit less per window, from the estimate), so
//   admitted <= (count + rate * t_max) * 1.01,  admitted >= rate * t_min * 0.99 - windows.
#include "integration/harness.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

namespace bulwark::test {
namespace {

using clock_type = std::chrono::steady_clock;
using seconds_f = std::chrono::duration<double>;

std::string admin_block() { return "admin:\n  address: 127.0.0.1:0\n"; }

// The value of bulwark_ratelimit_decisions_total for route/policy/decision; -1 if absent.
double decisions(std::string_view metrics, std::string_view route, std::string_view policy,
                 std::string_view decision) {
  const std::string route_label = "route=\"" + std::string(route) + "\"";
  const std::string policy_label = "policy=\"" + std::string(policy) + "\"";
  const std::string decision_label = "decision=\"" + std::string(decision) + "\"";
  while (!metrics.empty()) {
    const auto end = metrics.find('\n');
    const auto line = metrics.substr(0, end);
    metrics = end == std::string_view::npos ? std::string_view{} : metrics.substr(end + 1);
    if (!line.starts_with("bulwark_ratelimit_decisions_total{")) continue;
    if (line.find(route_label) == std::string_view::npos ||
        line.find(policy_label) == std::string_view::npos ||
        line.find(decision_label) == std::string_view::npos) {
      continue;
    }
    const auto space = line.rfind(' ');
    return std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  }
  return -1;
}

std::string scrape(std::uint16_t admin_port) {
  auto response = http_get(admin_port, "/metrics");
  if (!response || response->status != 200) {
    ADD_FAILURE() << "GET /metrics failed";
    return {};
  }
  return response->body;
}

bool is_whole_seconds(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

class RateLimit : public ::testing::TestWithParam<std::string> {
 protected:
  void start(const std::string& routes) {
    gateway_.emplace(start_bulwark("workers: 2\n"
                                   "listeners:\n"
                                   "  - name: public\n"
                                   "    address: 127.0.0.1:0\n"
                                   "upstreams:\n"
                                   "  - name: demo\n"
                                   "    endpoints: [127.0.0.1:" +
                                   std::to_string(upstream_.port) + "]\n" + "routes:\n" + routes +
                                   admin_block()));
  }
  std::uint16_t port() const { return gateway_->port("public"); }

  demo_upstream upstream_ = start_demo_upstream({"--name", "demo", "--threads", "2"});
  std::optional<bulwark_instance> gateway_;
};

struct load_result {
  int ok = 0;
  int refused = 0;
  int other = 0;
  std::vector<std::string> problems;  // refusals or admissions without the right fields
  clock_type::time_point first_send = clock_type::time_point::max();
  clock_type::time_point first_response = clock_type::time_point::max();
  clock_type::time_point last_send = clock_type::time_point::min();
  clock_type::time_point last_response = clock_type::time_point::min();
};

// `connections` keep-alive clients, together offering `per_second` requests
// per second, evenly paced with random phases, for `length`.
load_result offer_load(std::uint16_t port, int connections, double per_second,
                       clock_type::duration length, const std::string& policy_field,
                       const std::string& limit_prefix) {
  load_result total;
  std::mutex mutex;
  const auto interval = std::chrono::duration_cast<clock_type::duration>(
      seconds_f(connections / per_second));
  const auto begin = clock_type::now() + std::chrono::milliseconds(100);
  const auto until = begin + length;
  std::vector<std::thread> clients;
  for (int c = 0; c < connections; ++c) {
    clients.emplace_back([&, c] {
      load_result mine;
      std::mt19937 random(static_cast<unsigned>(c));
      auto next = begin + std::chrono::duration_cast<clock_type::duration>(
                              interval * std::uniform_real_distribution<double>(0, 1)(random));
      http_connection connection(port);
      const std::string request = format_request("GET", "/", port);
      while (next < until) {
        std::this_thread::sleep_until(next);
        next += interval;
        const auto sent = clock_type::now();
        if (!connection.is_open()) connection.connect(port);
        if (!connection.send(request)) {
          ++mine.other;
          connection.close();
          continue;
        }
        auto response = connection.read_response(std::chrono::seconds(5));
        const auto received = clock_type::now();
        mine.first_send = std::min(mine.first_send, sent);
        mine.last_send = std::max(mine.last_send, sent);
        mine.first_response = std::min(mine.first_response, received);
        mine.last_response = std::max(mine.last_response, received);
        if (!response) {
          ++mine.other;
          connection.close();
          continue;
        }
        if (response->header("RateLimit-Policy") != policy_field ||
            !response->header("RateLimit").starts_with(limit_prefix)) {
          mine.problems.push_back(std::to_string(response->status) + " with RateLimit-Policy: " +
                                  response->header("RateLimit-Policy") +
                                  " RateLimit: " + response->header("RateLimit"));
        }
        if (response->status == 200) {
          ++mine.ok;
        } else if (response->status == 429) {
          ++mine.refused;
          const auto retry_after = response->header("Retry-After");
          if (!is_whole_seconds(retry_after) || std::stoul(retry_after) < 1 ||
              response->header("Content-Type") != "application/problem+json" ||
              !response->header("RateLimit").starts_with(limit_prefix + "r=0;t=")) {
            mine.problems.push_back("429 with Retry-After: " + retry_after + " RateLimit: " +
                                    response->header("RateLimit") + " Content-Type: " +
                                    response->header("Content-Type"));
          }
        } else {
          ++mine.other;
        }
      }
      std::lock_guard lock(mutex);
      total.ok += mine.ok;
      total.refused += mine.refused;
      total.other += mine.other;
      total.problems.insert(total.problems.end(), mine.problems.begin(), mine.problems.end());
      total.first_send = std::min(total.first_send, mine.first_send);
      total.last_send = std::max(total.last_send, mine.last_send);
      total.first_response = std::min(total.first_response, mine.first_response);
      total.last_response = std::max(total.last_response, mine.last_response);
    });
  }
  for (auto& client : clients) client.join();
  return total;
}

TEST_P(RateLimit, AdmitsTheConfiguredRateUnderTwiceTheLoad) {
  const std::string algorithm = GetParam();
  start("  - name: limited\n"
        "    upstream: demo\n"
        "    rate_limits:\n"
        "      - name: per-ip\n"
        "        key: client_ip\n"
        "        rate: 50/s\n"
        "        burst: 10\n"
        "        algorithm: " + algorithm + "\n");
  const bool sliding = algorithm == "sliding_window";
  // q = burst and w = burst / rate rounded up; the sliding window: count per period.
  const std::string policy_field = sliding ? R"("per-ip";q=50;w=1)" : R"("per-ip";q=10;w=1)";
  const double rate = 50;
  const double quota = sliding ? 50 : 10;

  const auto load = offer_load(port(), 32, 2 * rate, std::chrono::seconds(10), policy_field,
                               R"("per-ip";)");
  EXPECT_EQ(load.other, 0);
  EXPECT_TRUE(load.problems.empty()) << load.problems.size() << " bad responses, the first: "
                                     << load.problems.front();
  EXPECT_GT(load.refused, load.ok / 2);  // the load really was about twice the limit

  const auto metrics = scrape(gateway_->admin_port);
  const double admitted = decisions(metrics, "limited", "per-ip", "allow");
  const double denied = decisions(metrics, "limited", "per-ip", "deny");
  EXPECT_EQ(admitted, load.ok);  // the gateway's count and the client's agree
  EXPECT_EQ(denied, load.refused);

  const double t_max = seconds_f(load.last_response - load.first_send).count();
  const double t_min = seconds_f(load.last_send - load.first_response).count();
  const double upper = (quota + rate * t_max) * 1.01;
  const double lower = sliding ? rate * t_min * 0.99 - std::ceil(t_max) - 1
                               : (quota + rate * t_min) * 0.99;
  EXPECT_LE(admitted, upper) << "t_max " << t_max;
  EXPECT_GE(admitted, lower) << "t_min " << t_min;
  std::cout << "[ " << algorithm << " ] admitted " << admitted << " of " << load.ok + load.refused
            << " over " << t_min << ".." << t_max << " s; bounds " << lower << ".." << upper << "\n";
}

INSTANTIATE_TEST_SUITE_P(Algorithms, RateLimit,
                         ::testing::Values("token_bucket", "gcra", "sliding_window"),
                         [](const auto& info) { return info.param; });

// A request sent Retry-After seconds after a refusal is admitted, for each
// algorithm (three routes, the same client; the demo upstream's /status/N
// answers N, so each route's admissions are told apart from the 429s).
TEST(RateLimitRetryAfter, ARequestRetryAfterSecondsLaterIsAdmitted) {
  const std::vector<std::pair<std::string, int>> algorithms = {
      {"token_bucket", 200}, {"gcra", 201}, {"sliding_window", 202}};
  auto upstream = start_demo_upstream({"--name", "demo"});
  std::string routes;
  for (const auto& [algorithm, status] : algorithms) {
    routes += "  - name: " + algorithm + "\n"
              "    match: {path: /status/" + std::to_string(status) + "}\n"
              "    upstream: demo\n"
              "    rate_limits:\n"
              "      - {name: tight, key: client_ip, rate: 2/s, algorithm: " + algorithm + "}\n";
  }
  auto gateway = start_bulwark("listeners:\n"
                               "  - name: public\n"
                               "    address: 127.0.0.1:0\n"
                               "upstreams:\n"
                               "  - name: demo\n"
                               "    endpoints: [127.0.0.1:" + std::to_string(upstream.port) + "]\n"
                               "routes:\n" + routes);
  const auto port = gateway.port("public");
  for (const auto& [algorithm, status] : algorithms) {
    const std::string path = "/status/" + std::to_string(status);
    std::optional<http_response> refused;
    for (int i = 0; i < 10 && !refused; ++i) {
      auto response = http_get(port, path);
      ASSERT_TRUE(response);
      if (response->status == 429) {
        refused = std::move(response);
      } else {
        ASSERT_EQ(response->status, status) << algorithm;
      }
    }
    ASSERT_TRUE(refused) << algorithm << ": never refused";
    const auto retry_after = refused->header("Retry-After");
    ASSERT_TRUE(is_whole_seconds(retry_after)) << retry_after;
    const auto wait = std::stoul(retry_after);
    EXPECT_GE(wait, 1u);
    EXPECT_LE(wait, 2u) << algorithm;  // 2/s: a unit comes back within a second or two
    std::this_thread::sleep_for(std::chrono::seconds(wait));
    auto retried = http_get(port, path);
    ASSERT_TRUE(retried);
    EXPECT_EQ(retried->status, status) << algorithm << " after Retry-After: " << retry_after;
    EXPECT_EQ(retried->header("RateLimit-Policy"), R"("tight";q=2;w=1)") << algorithm;
    EXPECT_TRUE(retried->header("RateLimit").starts_with(R"("tight";r=)"))
        << retried->header("RateLimit");
  }
}

}  // namespace
}  // namespace bulwark::test
