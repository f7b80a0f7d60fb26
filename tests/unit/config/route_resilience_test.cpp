// routes[].retry, .fallback and .fault: defaults, the full example, and each
// refusal exactly as `bulwark check` prints it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_configs.h"

namespace bulwark::config {
namespace {

using namespace std::chrono_literals;
using test::errors_of;
using test::route_errors;
using test::with_route;
using testing::ElementsAre;


route load_route(std::string_view fields) {
  const auto result = load_string(with_route(fields));
  EXPECT_TRUE(result.ok()) << result.errors.front().to_string();
  return result.ok() ? result.config->routes[0] : route{};
}


// --- retry --------------------------------------------------------------------------

TEST(retry_config, defaults_make_one_try) {
  const route r = load_route("");
  EXPECT_EQ(r.retry, retry_policy{});
  EXPECT_EQ(r.retry.attempts, 1u);
  EXPECT_FALSE(r.retry.per_try_timeout);
  EXPECT_EQ(r.retry.backoff.base, duration(100ms));
  EXPECT_EQ(r.retry.backoff.max, duration(2s));
  EXPECT_EQ(r.retry.backoff.jitter, core::jitter::full);
  EXPECT_EQ(r.retry.methods, (std::vector<std::string>{"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}));
  EXPECT_FALSE(r.retry.budget);
  EXPECT_TRUE(r.retry.honor_retry_after);
  EXPECT_EQ(r.retry.max_replay_body, 64u * 1024);
  EXPECT_FALSE(r.fallback);
  EXPECT_FALSE(r.fault);
}

TEST(retry_config, default_conditions_are_connection_failures_and_502_503_504) {
  const route r = load_route("    retry: {attempts: 3}\n");
  const outcome_conditions& on = r.retry.on;
  EXPECT_EQ(on, outcome_conditions::retry_default());
  EXPECT_TRUE(on.connect_failure);
  EXPECT_TRUE(on.reset);
  EXPECT_TRUE(on.timeout);
  for (unsigned code = 100; code < 600; ++code)
    EXPECT_EQ(on.matches_status(code), code == 502 || code == 503 || code == 504) << code;
  EXPECT_FALSE(on.matches_status(600));
  EXPECT_FALSE(on.matches_status(99999));
}

TEST(retry_config, full_example) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const retry_policy& retry = result.config->routes[0].retry;
  EXPECT_EQ(retry.attempts, 4u);
  EXPECT_EQ(retry.per_try_timeout, duration(2s));
  EXPECT_EQ(retry.backoff.base, duration(50ms));
  EXPECT_EQ(retry.backoff.max, duration(1s));
  EXPECT_EQ(retry.backoff.jitter, core::jitter::decorrelated);
  EXPECT_FALSE(retry.on.connect_failure);
  EXPECT_TRUE(retry.on.reset);
  EXPECT_FALSE(retry.on.timeout);
  EXPECT_TRUE(retry.on.matches_status(500));
  EXPECT_TRUE(retry.on.matches_status(503));
  EXPECT_FALSE(retry.on.matches_status(502));
  EXPECT_EQ(retry.methods, (std::vector<std::string>{"GET", "POST"}));
  ASSERT_TRUE(retry.budget);
  EXPECT_DOUBLE_EQ(retry.budget->ratio, 0.1);
  EXPECT_DOUBLE_EQ(retry.budget->min_per_s, 5);
  EXPECT_EQ(retry.budget->window, duration(30s));
  EXPECT_FALSE(retry.honor_retry_after);
  EXPECT_EQ(retry.max_replay_body, 1024u * 1024);
}

TEST(retry_config, classes_and_an_empty_budget) {
  const route r = load_route("    retry: {on: [5xx, 429], budget: {}, backoff: {jitter: none}}\n");
  EXPECT_TRUE(r.retry.on.matches_status(429));
  EXPECT_TRUE(r.retry.on.matches_status(500));
  EXPECT_TRUE(r.retry.on.matches_status(599));
  EXPECT_FALSE(r.retry.on.matches_status(499));
  EXPECT_FALSE(r.retry.on.connect_failure);
  ASSERT_TRUE(r.retry.budget);
  EXPECT_EQ(*r.retry.budget, retry_budget_settings{});
  EXPECT_DOUBLE_EQ(r.retry.budget->ratio, 0.2);
  EXPECT_DOUBLE_EQ(r.retry.budget->min_per_s, 10);
  EXPECT_EQ(r.retry.budget->window, duration(10s));
  EXPECT_EQ(r.retry.backoff.jitter, core::jitter::none);
  // One of the two may be zero.
  const route floor_only = load_route("    retry: {budget: {ratio: 0, min_per_s: 1}}\n");
  EXPECT_EQ(floor_only.retry.budget->ratio, 0);
}

TEST(retry_config, field_errors) {
  EXPECT_THAT(
      route_errors(R"(    retry:
      attempts: 11
      backoff: {base: 0s, jitter: ful}
      on: [timeout, 99, 4XX, retriable]
      methods: [get]
      budget: {ratio: -0.1, min_per_s: lots, window: 0s}
      honor_retry_after: yes
      max_replay_body: 64KB
)"),
      ElementsAre(
          "test.yaml:7:17: routes[0].retry.attempts: must be from 1 to 10 (got 11)",
          "test.yaml:8:23: routes[0].retry.backoff.base: must be greater than 0 (got 0s)",
          "test.yaml:8:35: routes[0].retry.backoff.jitter: expected full, equal, decorrelated or "
          "none; did you mean `full`? (got ful)",
          "test.yaml:9:21: routes[0].retry.on[1]: must be from 100 to 599 (got 99)",
          "test.yaml:9:25: routes[0].retry.on[2]: expected connect_failure, reset, timeout, a "
          "status code from 100 to 599, 4xx or 5xx (got 4XX)",
          "test.yaml:9:30: routes[0].retry.on[3]: expected connect_failure, reset, timeout, a "
          "status code from 100 to 599, 4xx or 5xx (got retriable)",
          "test.yaml:10:17: routes[0].retry.methods[0]: expected an HTTP method in upper case, "
          "like GET or POST (got get)",
          "test.yaml:11:23: routes[0].retry.budget.ratio: must be from 0 to 9 (got -0.1)",
          "test.yaml:11:40: routes[0].retry.budget.min_per_s: expected a number from 0 to 1e+06 "
          "(got lots)",
          "test.yaml:11:54: routes[0].retry.budget.window: must be greater than 0 (got 0s)",
          "test.yaml:12:26: routes[0].retry.honor_retry_after: expected true or false (got yes)",
          "test.yaml:13:24: routes[0].retry.max_replay_body: sizes use binary units: write 64KiB "
          "(64 x 1024 bytes), not 64KB (got 64KB)"));
}

TEST(retry_config, empty_lists_are_refused) {
  EXPECT_THAT(route_errors("    retry: {attempts: 2, on: [], methods: []}\n"),
              ElementsAre("test.yaml:6:30: routes[0].retry.on: at least one condition is "
                          "required; to turn retries off, set attempts: 1",
                          "test.yaml:6:43: routes[0].retry.methods: at least one method is "
                          "required; to turn retries off, set attempts: 1"));
}

TEST(retry_config, backoff_base_at_most_max) {
  EXPECT_THAT(route_errors("    retry: {backoff: {base: 3s}}\n"),
              ElementsAre("test.yaml:6:29: routes[0].retry.backoff.base: must be at most "
                          "backoff.max (2s) (got 3s)"));
  EXPECT_THAT(route_errors("    retry: {backoff: {max: 50ms}}\n"),
              ElementsAre("test.yaml:6:28: routes[0].retry.backoff.max: must be at least "
                          "backoff.base (100ms by default) (got 50ms)"));
  EXPECT_THAT(route_errors("    retry: {backoff: {base: 1s, max: 500ms}}\n"),
              ElementsAre("test.yaml:6:29: routes[0].retry.backoff.base: must be at most "
                          "backoff.max (500ms) (got 1s)"));
  EXPECT_EQ(load_route("    retry: {backoff: {base: 1s, max: 1s}}\n").retry.backoff.max,
            duration(1s));
}

TEST(retry_config, a_budget_of_nothing_is_refused) {
  EXPECT_THAT(route_errors("    retry: {attempts: 3, budget: {ratio: 0, min_per_s: 0}}\n"),
              ElementsAre("test.yaml:6:34: routes[0].retry.budget: ratio and min_per_s are both "
                          "0, so no retry could ever be sent; to turn retries off, set "
                          "attempts: 1"));
}

// --- fallback and fault -------------------------------------------------------------

TEST(fallback_config, defaults_and_full_example) {
  const route r = load_route("    fallback: {body: '{\"error\":\"down\"}'}\n");
  ASSERT_TRUE(r.fallback);
  EXPECT_EQ(r.fallback->status, 503u);
  EXPECT_EQ(r.fallback->body, "{\"error\":\"down\"}");
  EXPECT_EQ(r.fallback->content_type, "application/json");
  const auto full = load_string(test::full_yaml);
  ASSERT_TRUE(full.ok()) << full.errors.front().to_string();
  ASSERT_TRUE(full.config->routes[0].fallback);
  EXPECT_EQ(full.config->routes[0].fallback->status, 200u);
  EXPECT_EQ(full.config->routes[0].fallback->body, "{\"items\":[]}");
  const route text = load_route("    fallback: {content_type: \"text/plain; charset=utf-8\"}\n");
  EXPECT_EQ(text.fallback->content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(text.fallback->body, "");
}

TEST(fallback_config, errors) {
  EXPECT_THAT(
      route_errors("    fallback: {status: 99, body: {a: 1}, content_type: json}\n"),
      ElementsAre("test.yaml:6:24: routes[0].fallback.status: must be from 100 to 599 (got 99)",
                  "test.yaml:6:34: routes[0].fallback.body: expected the body as a string (got a "
                  "map)",
                  "test.yaml:6:56: routes[0].fallback.content_type: expected a media type like "
                  "application/json (got json)"));
}

TEST(fault_config, full_example_and_defaults) {
  const auto full = load_string(test::full_yaml);
  ASSERT_TRUE(full.ok()) << full.errors.front().to_string();
  const auto& fault = full.config->routes[0].fault;
  ASSERT_TRUE(fault);
  EXPECT_DOUBLE_EQ(fault->delay_percent, 10);
  EXPECT_EQ(fault->delay, duration(200ms));
  EXPECT_DOUBLE_EQ(fault->abort_percent, 1.5);
  EXPECT_EQ(fault->abort_status, 500u);
  const route abort_only = load_route("    fault: {abort: {percent: 100}}\n");
  ASSERT_TRUE(abort_only.fault);
  EXPECT_EQ(abort_only.fault->abort_status, 503u);
  EXPECT_EQ(abort_only.fault->delay_percent, 0);
  EXPECT_EQ(abort_only.fault->delay, duration::zero());
}

TEST(fault_config, errors) {
  EXPECT_THAT(
      route_errors(R"(    fault:
      delay: {percent: 101, duration: 0s}
      abort: {status: 600}
  - name: s
    upstream: api
    fault: {delay: {duration: 1s}, abort: {percent: "5%"}}
)"),
      ElementsAre(
          "test.yaml:7:24: routes[0].fault.delay.percent: must be from 0 to 100 (got 101)",
          "test.yaml:7:39: routes[0].fault.delay.duration: must be greater than 0 (got 0s)",
          "test.yaml:8:14: routes[0].fault.abort.percent: required field is missing",
          "test.yaml:8:23: routes[0].fault.abort.status: must be from 100 to 599 (got 600)",
          "test.yaml:11:20: routes[1].fault.delay.percent: required field is missing",
          "test.yaml:11:53: routes[1].fault.abort.percent: expected a number from 0 to 100 (got "
          "5%)"));
}

}  // namespace
}  // namespace bulwark::config
