// upstreams[].concurrency, .circuit_breaker, .health_check and
// .outlier_detection: nothing by default, every default of an empty map, the
// full example, and each refusal exactly as `bulwark check` prints it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_configs.h"

namespace bulwark::config {
namespace {

using namespace std::chrono_literals;
using test::errors_of;
using testing::ElementsAre;

// One upstream whose extra fields (indented by 4, from line 6) are `fields`.
std::string with_upstream(std::string_view fields) {
  return std::string(R"(listeners: [{name: a, address: "127.0.0.1:0"}]
routes: [{name: r, upstream: api}]
upstreams:
  - name: api
    endpoints: [127.0.0.1:9000]
)") + std::string(fields);
}

upstream load_upstream(std::string_view fields) {
  const auto result = load_string(with_upstream(fields));
  EXPECT_TRUE(result.ok()) << result.errors.front().to_string();
  return result.ok() ? result.config->upstreams[0] : upstream{};
}

std::vector<std::string> upstream_errors(std::string_view fields) {
  return errors_of(with_upstream(fields));
}

TEST(upstream_resilience_config, nothing_is_on_by_default) {
  const upstream u = load_upstream("");
  EXPECT_FALSE(u.concurrency);
  EXPECT_FALSE(u.circuit_breaker);
  EXPECT_FALSE(u.health_check);
  EXPECT_FALSE(u.outlier_detection);
}

TEST(upstream_resilience_config, full_example) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const upstream& api = result.config->upstreams[0];

  ASSERT_TRUE(api.concurrency);
  EXPECT_EQ(api.concurrency->algorithm, concurrency_settings::kind::aimd);
  EXPECT_EQ(api.concurrency->aimd.min_limit, 8u);
  EXPECT_EQ(api.concurrency->aimd.max_limit, 1000u);
  EXPECT_EQ(api.concurrency->aimd.initial_limit, 16u);
  EXPECT_DOUBLE_EQ(api.concurrency->aimd.backoff_ratio, 0.8);
  EXPECT_EQ(api.concurrency->aimd.timeout, duration(2s));
  ASSERT_TRUE(result.config->upstreams[1].concurrency);
  EXPECT_EQ(result.config->upstreams[1].concurrency->algorithm, concurrency_settings::kind::fixed);
  EXPECT_EQ(result.config->upstreams[1].concurrency->limit, 64u);

  ASSERT_TRUE(api.circuit_breaker);
  const auto& policy = api.circuit_breaker->policy;
  EXPECT_EQ(policy.window_type, core::window_kind::time_based);
  EXPECT_EQ(policy.window, duration(1min));
  EXPECT_EQ(policy.min_requests, 10u);
  EXPECT_DOUBLE_EQ(policy.failure_rate, 0.25);
  EXPECT_EQ(policy.slow_call, duration(3s));
  EXPECT_DOUBLE_EQ(policy.slow_call_rate, 0.9);
  EXPECT_EQ(policy.open_for, duration(20s));
  EXPECT_EQ(policy.half_open_requests, 5u);
  EXPECT_TRUE(api.circuit_breaker->counts_slow_calls());
  const outcome_conditions& failure_on = api.circuit_breaker->failure_on;
  EXPECT_TRUE(failure_on.connect_failure);
  EXPECT_FALSE(failure_on.reset);
  EXPECT_TRUE(failure_on.timeout);
  EXPECT_TRUE(failure_on.matches_status(503));
  EXPECT_FALSE(failure_on.matches_status(502));
  EXPECT_TRUE(failure_on.matches_status(400));
  EXPECT_TRUE(failure_on.matches_status(499));
  EXPECT_FALSE(failure_on.matches_status(500));

  ASSERT_TRUE(api.health_check);
  EXPECT_EQ(api.health_check->path, "/ready");
  EXPECT_EQ(api.health_check->host, "api.internal");
  EXPECT_EQ(api.health_check->interval, duration(10s));
  EXPECT_EQ(api.health_check->timeout, duration(2s));
  EXPECT_EQ(api.health_check->unhealthy_after, 4u);
  EXPECT_EQ(api.health_check->healthy_after, 1u);

  ASSERT_TRUE(api.outlier_detection);
  EXPECT_EQ(api.outlier_detection->consecutive_failures, 3u);
  EXPECT_EQ(api.outlier_detection->eject_for, duration(1min));
  EXPECT_DOUBLE_EQ(api.outlier_detection->max_ejected, 0.3);
}

// --- concurrency --------------------------------------------------------------------

TEST(concurrency_config, adaptive_defaults_to_gradient2_with_initial_at_min) {
  const upstream u = load_upstream("    concurrency: {adaptive: {min: 8, max: 1000}}\n");
  ASSERT_TRUE(u.concurrency);
  EXPECT_EQ(u.concurrency->algorithm, concurrency_settings::kind::gradient2);
  EXPECT_EQ(u.concurrency->gradient2.min_limit, 8u);
  EXPECT_EQ(u.concurrency->gradient2.max_limit, 1000u);
  EXPECT_EQ(u.concurrency->gradient2.initial_limit, 8u);
  const core::gradient2_config netflix;
  EXPECT_EQ(u.concurrency->gradient2.smoothing, netflix.smoothing);
  EXPECT_EQ(u.concurrency->gradient2.queue_size, netflix.queue_size);
  EXPECT_EQ(u.concurrency->gradient2.long_window, netflix.long_window);
  EXPECT_EQ(u.concurrency->gradient2.rtt_tolerance, netflix.rtt_tolerance);
}

TEST(concurrency_config, an_empty_adaptive_map_takes_core_defaults) {
  const upstream u = load_upstream("    concurrency: {adaptive: {}}\n");
  ASSERT_TRUE(u.concurrency);
  EXPECT_EQ(u.concurrency->gradient2, core::gradient2_config{});
  const upstream aimd = load_upstream("    concurrency: {adaptive: {algorithm: aimd}}\n");
  ASSERT_TRUE(aimd.concurrency);
  EXPECT_EQ(aimd.concurrency->algorithm, concurrency_settings::kind::aimd);
  EXPECT_EQ(aimd.concurrency->aimd, core::aimd_config{});
}

TEST(concurrency_config, gradient2_fields) {
  const upstream u = load_upstream(
      "    concurrency:\n      adaptive: {min: 4, max: 50, initial: 10, smoothing: 0.5, queue_size: "
      "0, long_window: 100, rtt_tolerance: 2}\n");
  ASSERT_TRUE(u.concurrency);
  const core::gradient2_config& g = u.concurrency->gradient2;
  EXPECT_EQ(g.initial_limit, 10u);
  EXPECT_DOUBLE_EQ(g.smoothing, 0.5);
  EXPECT_EQ(g.queue_size, 0u);
  EXPECT_EQ(g.long_window, 100u);
  EXPECT_DOUBLE_EQ(g.rtt_tolerance, 2.0);
}

TEST(concurrency_config, exactly_one_of_limit_and_adaptive) {
  EXPECT_THAT(upstream_errors("    concurrency: {limit: 10, adaptive: {min: 1}}\n"),
              ElementsAre("test.yaml:6:40: upstreams[0].concurrency.adaptive: set either limit "
                          "or adaptive, not both"));
  EXPECT_THAT(upstream_errors("    concurrency: {}\n"),
              ElementsAre("test.yaml:6:18: upstreams[0].concurrency: expected {limit: N} for a "
                          "fixed limit or {adaptive: {min: N, max: N}}"));
  EXPECT_THAT(upstream_errors("    concurrency: 10\n"),
              ElementsAre("test.yaml:6:18: upstreams[0].concurrency: expected a map of fields "
                          "(got 10)"));
}

TEST(concurrency_config, field_errors) {
  EXPECT_THAT(upstream_errors("    concurrency: {limit: 0}\n"),
              ElementsAre("test.yaml:6:26: upstreams[0].concurrency.limit: must be from 1 to "
                          "4294967295 (got 0)"));
  EXPECT_THAT(
      upstream_errors(R"(    concurrency:
      adaptive:
        algorithm: vegas
        min: 0
        backoff_ratio: 1
        rtt_tolerance: 0.5
)"),
      ElementsAre("test.yaml:8:20: upstreams[0].concurrency.adaptive.algorithm: expected "
                  "gradient2 or aimd (got vegas)",
                  "test.yaml:9:14: upstreams[0].concurrency.adaptive.min: must be from 1 to "
                  "4294967295 (got 0)",
                  "test.yaml:10:24: upstreams[0].concurrency.adaptive.backoff_ratio: must be less "
                  "than 1: each drop must shrink the limit (got 1)",
                  "test.yaml:11:24: upstreams[0].concurrency.adaptive.rtt_tolerance: must be from "
                  "1 to 10 (got 0.5)"));
}

TEST(concurrency_config, fields_of_the_other_algorithm_are_refused) {
  EXPECT_THAT(
      upstream_errors(
          "    concurrency: {adaptive: {smoothing: 0.5, algorithm: aimd, timeout: 1s}}\n"
          "  - name: b\n    endpoints: [127.0.0.1:9001]\n"
          "    concurrency: {adaptive: {backoff_ratio: 0.7}}\n"),
      ElementsAre("test.yaml:6:41: upstreams[0].concurrency.adaptive.smoothing: only for "
                  "algorithm: gradient2 (got 0.5)",
                  "test.yaml:9:45: upstreams[1].concurrency.adaptive.backoff_ratio: only for "
                  "algorithm: aimd (got 0.7)"));
}

TEST(concurrency_config, min_initial_max_are_ordered) {
  EXPECT_THAT(upstream_errors("    concurrency: {adaptive: {min: 50, max: 10}}\n"),
              ElementsAre("test.yaml:6:44: upstreams[0].concurrency.adaptive.max: must be at "
                          "least min (50) (got 10)"));
  EXPECT_THAT(upstream_errors("    concurrency: {adaptive: {min: 500}}\n"),
              ElementsAre("test.yaml:6:35: upstreams[0].concurrency.adaptive.min: must be at "
                          "most max (200 by default) (got 500)"));
  EXPECT_THAT(
      upstream_errors("    concurrency: {adaptive: {algorithm: aimd, min: 5, max: 10, initial: 11}}\n"),
      ElementsAre("test.yaml:6:73: upstreams[0].concurrency.adaptive.initial: must be from min "
                  "(5) to max (10) (got 11)"));
  EXPECT_THAT(upstream_errors("    concurrency: {adaptive: {min: 5, max: 10, initial: 4}}\n"),
              ElementsAre("test.yaml:6:56: upstreams[0].concurrency.adaptive.initial: must be "
                          "from min (5) to max (10) (got 4)"));
  const upstream equal = load_upstream("    concurrency: {adaptive: {min: 7, max: 7}}\n");
  ASSERT_TRUE(equal.concurrency);
  EXPECT_EQ(equal.concurrency->gradient2.initial_limit, 7u);
}

// --- circuit breaker ----------------------------------------------------------------

TEST(circuit_breaker_config, an_empty_map_takes_every_default_and_ignores_slow_calls) {
  const upstream u = load_upstream("    circuit_breaker: {}\n");
  ASSERT_TRUE(u.circuit_breaker);
  EXPECT_EQ(*u.circuit_breaker, breaker_settings{});
  const core::circuit_breaker_settings& policy = u.circuit_breaker->policy;
  EXPECT_EQ(policy.window_type, core::window_kind::time_based);
  EXPECT_EQ(policy.window, duration(30s));
  EXPECT_EQ(policy.window_buckets, 10u);
  EXPECT_EQ(policy.min_requests, 20u);
  EXPECT_DOUBLE_EQ(policy.failure_rate, 0.5);
  EXPECT_EQ(policy.open_for, duration(10s));
  EXPECT_EQ(policy.half_open_requests, 3u);
  // No slow_call written: no call can ever be slow.
  EXPECT_EQ(policy.slow_call, breaker_settings::no_slow_call);
  EXPECT_DOUBLE_EQ(policy.slow_call_rate, 1.0);
  EXPECT_FALSE(u.circuit_breaker->counts_slow_calls());
  EXPECT_TRUE(policy.validate().empty());
  // failure_on: connect_failure, reset, timeout, 5xx.
  const outcome_conditions& failure_on = u.circuit_breaker->failure_on;
  EXPECT_EQ(failure_on, outcome_conditions::breaker_default());
  EXPECT_TRUE(failure_on.connect_failure && failure_on.reset && failure_on.timeout);
  for (unsigned code = 100; code < 600; ++code)
    EXPECT_EQ(failure_on.matches_status(code), code >= 500) << code;
}

TEST(circuit_breaker_config, slow_call_alone_takes_the_core_default_rate) {
  const upstream u = load_upstream("    circuit_breaker: {slow_call: 2s}\n");
  ASSERT_TRUE(u.circuit_breaker);
  EXPECT_EQ(u.circuit_breaker->policy.slow_call, duration(2s));
  EXPECT_DOUBLE_EQ(u.circuit_breaker->policy.slow_call_rate, 0.8);
  EXPECT_TRUE(u.circuit_breaker->counts_slow_calls());
}

TEST(circuit_breaker_config, failure_on_replaces_the_default) {
  const upstream u = load_upstream("    circuit_breaker: {failure_on: [502, reset]}\n");
  ASSERT_TRUE(u.circuit_breaker);
  const outcome_conditions& failure_on = u.circuit_breaker->failure_on;
  EXPECT_FALSE(failure_on.connect_failure);
  EXPECT_TRUE(failure_on.reset);
  EXPECT_FALSE(failure_on.timeout);
  EXPECT_TRUE(failure_on.matches_status(502));
  EXPECT_FALSE(failure_on.matches_status(503));
  // Only slow calls may open a breaker too.
  const upstream slow_only = load_upstream("    circuit_breaker: {failure_on: [], slow_call: 1s}\n");
  ASSERT_TRUE(slow_only.circuit_breaker);
  EXPECT_TRUE(slow_only.circuit_breaker->failure_on.empty());
}

TEST(circuit_breaker_config, field_errors) {
  EXPECT_THAT(
      upstream_errors(R"(    circuit_breaker:
      window: 0s
      min_requests: 0
      failure_rate: 1.5
      slow_call: fast
      slow_call_rate: 0
      open_for: 10
      half_open_requests: 128
      failure_on: [connect_failures, 600, 5XX, [503]]
)"),
      ElementsAre(
          "test.yaml:7:15: upstreams[0].circuit_breaker.window: must be greater than 0 (got 0s)",
          "test.yaml:8:21: upstreams[0].circuit_breaker.min_requests: must be from 1 to "
          "4294967295 (got 0)",
          "test.yaml:9:21: upstreams[0].circuit_breaker.failure_rate: must be greater than 0 and "
          "at most 1 (got 1.5)",
          "test.yaml:10:18: upstreams[0].circuit_breaker.slow_call: expected a duration like "
          "250ms, 5s, 2m or 1h (got fast)",
          "test.yaml:11:23: upstreams[0].circuit_breaker.slow_call_rate: must be greater than 0 "
          "and at most 1 (got 0)",
          "test.yaml:12:17: upstreams[0].circuit_breaker.open_for: missing unit; expected a "
          "duration like 250ms, 5s, 2m or 1h (got 10)",
          "test.yaml:13:27: upstreams[0].circuit_breaker.half_open_requests: must be from 1 to "
          "127 (got 128)",
          "test.yaml:14:20: upstreams[0].circuit_breaker.failure_on[0]: expected "
          "connect_failure, reset, timeout, a status code from 100 to 599, 4xx or 5xx; did you "
          "mean `connect_failure`? (got connect_failures)",
          "test.yaml:14:38: upstreams[0].circuit_breaker.failure_on[1]: must be from 100 to 599 "
          "(got 600)",
          "test.yaml:14:43: upstreams[0].circuit_breaker.failure_on[2]: expected "
          "connect_failure, reset, timeout, a status code from 100 to 599, 4xx or 5xx (got 5XX)",
          "test.yaml:14:48: upstreams[0].circuit_breaker.failure_on[3]: expected "
          "connect_failure, reset, timeout, a status code from 100 to 599, 4xx or 5xx (got a "
          "list)"));
}

TEST(circuit_breaker_config, slow_call_rate_needs_slow_call) {
  EXPECT_THAT(upstream_errors("    circuit_breaker: {slow_call_rate: 0.5}\n"),
              ElementsAre("test.yaml:6:39: upstreams[0].circuit_breaker.slow_call_rate: counts "
                          "calls slower than slow_call, which is not set: set slow_call too (got "
                          "0.5)"));
}

TEST(circuit_breaker_config, a_breaker_that_could_never_open_is_refused) {
  EXPECT_THAT(upstream_errors("    circuit_breaker: {failure_on: []}\n"),
              ElementsAre("test.yaml:6:35: upstreams[0].circuit_breaker.failure_on: the breaker "
                          "could never open: list a condition, or set slow_call"));
}

// --- health check and outlier detection ---------------------------------------------

TEST(health_check_config, an_empty_map_takes_every_default) {
  const upstream u = load_upstream("    health_check:\n");
  ASSERT_TRUE(u.health_check);
  EXPECT_EQ(*u.health_check, health_check_settings{});
  EXPECT_EQ(u.health_check->path, "/healthz");
  EXPECT_EQ(u.health_check->host, "");
  EXPECT_EQ(u.health_check->interval, duration(5s));
  EXPECT_EQ(u.health_check->timeout, duration(1s));
  EXPECT_EQ(u.health_check->unhealthy_after, 3u);
  EXPECT_EQ(u.health_check->healthy_after, 2u);
}

TEST(health_check_config, host_may_carry_a_port_and_timeout_may_equal_interval) {
  const upstream u =
      load_upstream("    health_check: {host: \"api.example.com:8443\", interval: 2s, timeout: 2s}\n");
  ASSERT_TRUE(u.health_check);
  EXPECT_EQ(u.health_check->host, "api.example.com:8443");
  EXPECT_EQ(u.health_check->timeout, duration(2s));
}

TEST(health_check_config, errors) {
  EXPECT_THAT(
      upstream_errors(R"(    health_check:
      path: healthz
      host: "bad host"
      interval: 0s
      unhealthy_after: 0
      healthy_after: 0
      every: 5s
)"),
      ElementsAre(
          "test.yaml:7:13: upstreams[0].health_check.path: must start with / (got healthz)",
          "test.yaml:8:13: upstreams[0].health_check.host: expected a host name with an optional "
          "port, like api.example.com or api.example.com:8080 (got bad host)",
          "test.yaml:9:17: upstreams[0].health_check.interval: must be greater than 0 (got 0s)",
          "test.yaml:10:24: upstreams[0].health_check.unhealthy_after: must be from 1 to "
          "4294967295 (got 0)",
          "test.yaml:11:22: upstreams[0].health_check.healthy_after: must be from 1 to "
          "4294967295 (got 0)",
          "test.yaml:12:7: upstreams[0].health_check.every: unknown field; expected path, host, "
          "interval, timeout, unhealthy_after or healthy_after"));
}

TEST(health_check_config, timeout_at_most_interval) {
  EXPECT_THAT(upstream_errors("    health_check: {interval: 1s, timeout: 2s}\n"),
              ElementsAre("test.yaml:6:43: upstreams[0].health_check.timeout: must be at most "
                          "interval (1s) (got 2s)"));
  EXPECT_THAT(upstream_errors("    health_check: {timeout: 10s}\n"),
              ElementsAre("test.yaml:6:29: upstreams[0].health_check.timeout: must be at most "
                          "interval (5s) (got 10s)"));
}

TEST(outlier_detection_config, defaults_and_errors) {
  const upstream u = load_upstream("    outlier_detection: {}\n");
  ASSERT_TRUE(u.outlier_detection);
  EXPECT_EQ(u.outlier_detection->consecutive_failures, 5u);
  EXPECT_EQ(u.outlier_detection->eject_for, duration(30s));
  EXPECT_DOUBLE_EQ(u.outlier_detection->max_ejected, 0.5);
  EXPECT_THAT(
      upstream_errors(
          "    outlier_detection: {consecutive_failures: 0, eject_for: 0s, max_ejected: 0}\n"),
      ElementsAre("test.yaml:6:47: upstreams[0].outlier_detection.consecutive_failures: must be "
                  "from 1 to 4294967295 (got 0)",
                  "test.yaml:6:61: upstreams[0].outlier_detection.eject_for: must be greater "
                  "than 0 (got 0s)",
                  "test.yaml:6:78: upstreams[0].outlier_detection.max_ejected: must be greater "
                  "than 0 and at most 1 (got 0)"));
}

}  // namespace
}  // namespace bulwark::config
