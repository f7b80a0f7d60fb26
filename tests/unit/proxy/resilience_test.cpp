// The retry decision and the concurrency permit, apart from any I/O.
#include "proxy/resilience.h"

#include <gtest/gtest.h>

#include "policy/fault/fault_phase.h"

namespace bulwark::proxy {
namespace {

using namespace std::chrono_literals;

config::outcome_conditions conditions(std::initializer_list<unsigned> statuses, bool failures) {
  config::outcome_conditions made;
  made.connect_failure = made.reset = made.timeout = failures;
  for (unsigned status : statuses) made.status[status] = true;
  return made;
}

struct retry_fixture : ::testing::Test {
  retry_fixture() {
    route.name.push_back('r');  // not `= "r"`: GCC 12 -Wrestrict misfires
    route.retry.attempts = 3;
    route.retry.on = conditions({502, 503, 504}, true);
    route.retry.backoff = {.base = 100ms, .max = 1s, .jitter = core::jitter::none};
    shared = make_route_resilience(route, generation);
  }

  std::optional<core::duration> ask(const try_result& result, unsigned tries,
                                    std::string_view method = "GET",
                                    std::optional<core::duration> retry_after = std::nullopt,
                                    bool replayable = true) {
    return retry_delay({.route = route,
                        .shared = shared,
                        .result = result,
                        .method = method,
                        .tries_made = tries,
                        .body_replayable = replayable,
                        .retry_after = retry_after,
                        .previous_delay = {},
                        .now = now,
                        .deadline = now + 10s});
  }

  config::route route;
  carried_state states;
  carried_state::generation generation = states.next();
  route_resilience shared;
  core::time_point now = core::time_point{} + 1h;
};

TEST_F(retry_fixture, RetriesListedConditionsWithExponentialBackoff) {
  EXPECT_EQ(ask({try_result::kind::response, 503}, 1), 100ms);
  EXPECT_EQ(ask({try_result::kind::connect_failure}, 2), 200ms);
  EXPECT_EQ(ask({try_result::kind::response, 503}, 3), std::nullopt) << "attempts count every try";
}

TEST_F(retry_fixture, DoesNotRetryWhatIsNotListed) {
  EXPECT_EQ(ask({try_result::kind::response, 500}, 1), std::nullopt);
  EXPECT_EQ(ask({try_result::kind::response, 200}, 1), std::nullopt);
  EXPECT_EQ(ask({try_result::kind::not_sent}, 1), std::nullopt);
}

TEST_F(retry_fixture, NonIdempotentMethodsAndUsedUpBodiesAreNotRetried) {
  EXPECT_EQ(ask({try_result::kind::response, 503}, 1, "POST"), std::nullopt);
  EXPECT_EQ(ask({try_result::kind::response, 503}, 1, "PUT", std::nullopt, false), std::nullopt);
  EXPECT_TRUE(ask({try_result::kind::response, 503}, 1, "PUT"));
}

TEST_F(retry_fixture, RetryAfterIsHonouredOnlyFor429And503AndWithinTheDeadline) {
  EXPECT_EQ(ask({try_result::kind::response, 503}, 1, "GET", 2s), 2s);
  route.retry.on.status[429] = true;
  EXPECT_EQ(ask({try_result::kind::response, 429}, 1, "GET", 3s), 3s);
  EXPECT_EQ(ask({try_result::kind::response, 502}, 1, "GET", 2s), 100ms) << "only 429 and 503";
  EXPECT_EQ(ask({try_result::kind::response, 503}, 1, "GET", 20s), std::nullopt)
      << "a wait past the route's timeout is no retry at all";
  route.retry.honor_retry_after = false;
  EXPECT_EQ(ask({try_result::kind::response, 503}, 1, "GET", 2s), 100ms);
}

TEST_F(retry_fixture, BudgetBoundsRetries) {
  route.retry.budget = config::retry_budget_settings{.ratio = 0.5, .min_per_s = 0, .window = 10s};
  auto fresh = states.next();
  shared = make_route_resilience(route, fresh);
  for (int i = 0; i < 10; ++i) shared.budget->record_request(now);
  int granted = 0;
  for (int i = 0; i < 20; ++i) granted += ask({try_result::kind::response, 503}, 1) ? 1 : 0;
  EXPECT_EQ(granted, 5);
}

TEST(RetryAfterSeconds, RoundsUpToWholeSecondsAtLeastOne) {
  EXPECT_EQ(retry_after_seconds(0s), 1u);
  EXPECT_EQ(retry_after_seconds(1ms), 1u);
  EXPECT_EQ(retry_after_seconds(1s), 1u);
  EXPECT_EQ(retry_after_seconds(1001ms), 2u);
}

TEST(ConcurrencyLimit, FixedBulkheadAdmitsUpToItsLimitAndReleasesOnEveryPath) {
  config::concurrency_settings settings;
  settings.limit = 2;
  concurrency_limit limit(settings);
  const auto now = core::time_point{};
  auto first = limit.try_acquire(now);
  auto second = limit.try_acquire(now);
  ASSERT_TRUE(first && second);
  EXPECT_FALSE(limit.try_acquire(now));
  EXPECT_EQ(limit.inflight(), 2u);
  first->complete({try_result::kind::response, 200}, now);
  EXPECT_EQ(limit.inflight(), 1u);
  second.reset();  // dropped without an outcome
  EXPECT_EQ(limit.inflight(), 0u);
}

TEST(ConcurrencyLimit, AdaptiveLimitLearnsFromTimeouts) {
  config::concurrency_settings settings;
  settings.algorithm = config::concurrency_settings::kind::aimd;
  settings.aimd = {.initial_limit = 10, .min_limit = 1, .max_limit = 20, .backoff_ratio = 0.5};
  concurrency_limit limit(settings);
  const auto start = core::time_point{} + 1s;
  auto permit = limit.try_acquire(start);
  ASSERT_TRUE(permit);
  permit->complete({try_result::kind::timeout}, start + 100ms);
  EXPECT_EQ(limit.limit(), 5u);
}

TEST(CarriedState, UnchangedSettingsKeepTheirStateAndChangedOnesStartFresh) {
  carried_state states;
  config::route route;
  route.name.push_back('r');
  route.retry.budget = config::retry_budget_settings{};
  auto first = states.next();
  const auto a = make_route_resilience(route, first).budget;
  states.commit(std::move(first));
  auto second = states.next();
  EXPECT_EQ(make_route_resilience(route, second).budget, a);
  states.commit(std::move(second));
  route.retry.budget->ratio = 0.9;
  auto third = states.next();
  EXPECT_NE(make_route_resilience(route, third).budget, a);
}

TEST(FaultInjection, PercentOfDraws) {
  EXPECT_TRUE(policy::falls_in(10, 0.05));
  EXPECT_FALSE(policy::falls_in(10, 0.10));
  EXPECT_FALSE(policy::falls_in(0, 0.0));
  EXPECT_TRUE(policy::falls_in(100, 0.999999));
}

}  // namespace
}  // namespace bulwark::proxy
