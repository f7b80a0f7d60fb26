// Endpoint health against the real binary (issue 5 §3): active health checks
// take an endpoint whose /healthz fails out of rotation and bring it back,
// outlier detection ejects an endpoint that fails real requests (never more
// than max_ejected of them), and /health/ready names a route whose upstream has
// no healthy endpoint. The upstreams are demo-upstream processes; /healthz is
// failed with --health-file (503 while the file is missing), or the process is
// killed. Every wait is on a condition with a deadline.
#include "integration/harness.h"

#include <gtest/gtest.h>

#include <signal.h>

#include <cstdio>
#include <functional>
#include <set>
#include <thread>

namespace bulwark::test {
namespace {

bool eventually(const std::function<bool()>& done, milliseconds timeout = 5s) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

std::string gateway_yaml(std::uint16_t port_a, std::uint16_t port_b, const std::string& upstream_extra) {
  std::string yaml = "workers: 2\n";
  yaml += "listeners:\n  - name: public\n    address: 127.0.0.1:0\n";
  yaml += "upstreams:\n  - name: api\n    endpoints: [127.0.0.1:";
  yaml += std::to_string(port_a);
  yaml += ", 127.0.0.1:";
  yaml += std::to_string(port_b);
  yaml += "]\n";
  yaml += upstream_extra;
  yaml += "routes:\n  - name: main\n    match: {path_prefix: /}\n    upstream: api\n";
  yaml += "observability: {access_log: off}\nadmin: {address: 127.0.0.1:0}\n";
  return yaml;
}

const std::string active_check =
    "    health_check: {path: /healthz, interval: 200ms, timeout: 200ms, unhealthy_after: 2, healthy_after: 2}\n";

nlohmann::json endpoints_status(const bulwark_instance& gateway) {
  auto status = http_get(gateway.admin_port, "/admin/status");
  if (!status || status->status != 200) return nlohmann::json::array();
  const auto body = nlohmann::json::parse(status->body, nullptr, false);
  if (body.is_discarded()) return nlohmann::json::array();
  for (const auto& upstream : body["upstreams"]) {
    if (upstream["name"] == "api") return upstream["endpoints"];
  }
  return nlohmann::json::array();
}

bool endpoint_flag(const bulwark_instance& gateway, std::size_t endpoint, const char* flag) {
  const auto endpoints = endpoints_status(gateway);
  return endpoint < endpoints.size() && endpoints[endpoint].value(flag, false);
}

// Which upstreams answered `count` sequential requests (by X-Upstream-Name),
// and how many requests were not a 200.
struct spread {
  std::multiset<std::string> names;
  int not_ok = 0;
};

spread send_requests(std::uint16_t port, int count) {
  spread seen;
  for (int i = 0; i < count; ++i) {
    auto response = http_get(port, "/");
    if (!response || response->status != 200) {
      ++seen.not_ok;
      continue;
    }
    seen.names.insert(response->header("X-Upstream-Name"));
  }
  return seen;
}

class Health : public ::testing::Test {
 protected:
  Health() {
    write_file(file_a_, "ok");
    write_file(file_b_, "ok");
  }
  void heal(const std::string& file) { write_file(file, "ok"); }
  void sicken(const std::string& file) { std::remove(file.c_str()); }

  temp_dir dir_;
  std::string file_a_ = dir_.file("a-healthy");
  std::string file_b_ = dir_.file("b-healthy");
  demo_upstream a_ = start_demo_upstream({"--name", "a", "--health-file", file_a_});
  demo_upstream b_ = start_demo_upstream({"--name", "b", "--health-file", file_b_});
};

TEST_F(Health, ActiveCheckTakesAFailingEndpointOutAndBringsItBack) {
  auto gateway = start_bulwark(gateway_yaml(a_.port, b_.port, active_check));
  const auto port = gateway.port("public");
  // Optimistic start: both serve at once.
  auto before = send_requests(port, 20);
  EXPECT_EQ(before.not_ok, 0);
  EXPECT_GT(before.names.count("a"), 0u);
  EXPECT_GT(before.names.count("b"), 0u);

  sicken(file_a_);
  ASSERT_TRUE(eventually([&] { return !endpoint_flag(gateway, 0, "healthy") &&
                                      endpoints_status(gateway).size() == 2; }))
      << endpoints_status(gateway).dump();
  EXPECT_TRUE(endpoint_flag(gateway, 1, "healthy"));
  // `/` still works on a; only its health check fails. It gets nothing now.
  auto during = send_requests(port, 20);
  EXPECT_EQ(during.not_ok, 0);
  EXPECT_EQ(during.names.count("a"), 0u);
  EXPECT_EQ(during.names.count("b"), 20u);
  auto ready = http_get(gateway.admin_port, "/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);  // one healthy endpoint is enough

  heal(file_a_);
  ASSERT_TRUE(eventually([&] { return endpoint_flag(gateway, 0, "healthy"); }))
      << endpoints_status(gateway).dump();
  auto after = send_requests(port, 20);
  EXPECT_EQ(after.not_ok, 0);
  EXPECT_GT(after.names.count("a"), 0u);
}

TEST_F(Health, ReadinessNamesTheRouteWithNoHealthyEndpoint) {
  auto gateway = start_bulwark(gateway_yaml(a_.port, b_.port, active_check));
  const auto port = gateway.port("public");
  sicken(file_a_);
  sicken(file_b_);
  std::optional<http_response> ready;
  ASSERT_TRUE(eventually([&] {
    ready = http_get(gateway.admin_port, "/health/ready");
    return ready && ready->status == 503;
  }));
  const auto body = nlohmann::json::parse(ready->body);
  ASSERT_TRUE(body.contains("reasons")) << ready->body;
  bool named = false;
  for (const auto& reason : body["reasons"]) {
    const auto text = reason.get<std::string>();
    if (text.find("main") != std::string::npos && text.find("api") != std::string::npos &&
        text.find("no healthy endpoint") != std::string::npos) {
      named = true;
    }
  }
  EXPECT_TRUE(named) << ready->body;
  // No panic mode: requests are refused, not sent to endpoints known to be down.
  auto refused = http_get(port, "/");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->header("Content-Type").find("application/problem+json"), std::string::npos);
  EXPECT_TRUE(refused->has("Retry-After"));

  heal(file_b_);
  ASSERT_TRUE(eventually([&] {
    auto again = http_get(gateway.admin_port, "/health/ready");
    return again && again->status == 200;
  }));
  auto served = http_get(port, "/");
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200);
  EXPECT_EQ(served->header("X-Upstream-Name"), "b");
}

TEST_F(Health, OutlierDetectionEjectsAnEndpointThatFailsRequests) {
  auto gateway = start_bulwark(gateway_yaml(
      a_.port, b_.port, "    outlier_detection: {consecutive_failures: 2, eject_for: 30s, max_ejected: 0.5}\n"));
  const auto port = gateway.port("public");
  a_.proc.signal(SIGKILL);
  ASSERT_TRUE(a_.proc.wait_exit(5s));
  // Requests balanced onto a fail (connect refused) until two in a row have
  // failed there; then a is ejected and b serves everything.
  ASSERT_TRUE(eventually([&] {
    send_requests(port, 1);
    return endpoint_flag(gateway, 0, "ejected");
  }, 10s)) << endpoints_status(gateway).dump();
  const auto endpoints = endpoints_status(gateway);
  EXPECT_GT(endpoints[0]["ejected_for_ms"].get<std::int64_t>(), 20'000);
  // The deadline is kept in whole milliseconds, rounded up, and shown rounded up.
  EXPECT_LE(endpoints[0]["ejected_for_ms"].get<std::int64_t>(), 30'001);
  EXPECT_FALSE(endpoints[1]["ejected"].get<bool>());
  auto after = send_requests(port, 20);
  EXPECT_EQ(after.not_ok, 0);
  EXPECT_EQ(after.names.count("b"), 20u);
  auto ready = http_get(gateway.admin_port, "/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST_F(Health, NeverEjectsMoreThanMaxEjected) {
  auto gateway = start_bulwark(gateway_yaml(
      a_.port, b_.port, "    outlier_detection: {consecutive_failures: 1, eject_for: 30s, max_ejected: 0.5}\n"));
  const auto port = gateway.port("public");
  a_.proc.signal(SIGKILL);
  b_.proc.signal(SIGKILL);
  ASSERT_TRUE(a_.proc.wait_exit(5s));
  ASSERT_TRUE(b_.proc.wait_exit(5s));
  auto dead = send_requests(port, 20);
  EXPECT_EQ(dead.not_ok, 20);
  const auto endpoints = endpoints_status(gateway);
  ASSERT_EQ(endpoints.size(), 2u) << endpoints.dump();
  const int ejected = (endpoints[0]["ejected"].get<bool>() ? 1 : 0) + (endpoints[1]["ejected"].get<bool>() ? 1 : 0);
  EXPECT_EQ(ejected, 1) << endpoints.dump();  // floor(0.5 x 2): the other stays in rotation
  auto ready = http_get(gateway.admin_port, "/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

}  // namespace
}  // namespace bulwark::test
