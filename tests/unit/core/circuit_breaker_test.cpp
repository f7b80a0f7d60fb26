// circuit_breaker: every transition, the thresholds at their boundaries, both
// window kinds, forced states, stale permits, a property test against a
// single-threaded reference model, and multi-threaded tests of the lock-free
// paths (half-open probe limit, closed-state admit/record, one trip per crossing).
// Time is an argument everywhere; nothing sleeps.
#include "core/circuit_breaker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "unit/core/test_time.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;
using transition_log = std::vector<std::pair<breaker_state, breaker_state>>;

using test::t0;

circuit_breaker_settings count_settings(std::uint32_t calls, std::uint32_t min_requests) {
  circuit_breaker_settings s;
  s.window_type = window_kind::count_based;
  s.window_calls = calls;
  s.min_requests = min_requests;
  s.failure_rate = 0.5;
  s.slow_call = 100ms;
  s.slow_call_rate = 0.5;
  s.open_for = 10s;
  s.half_open_requests = 3;
  return s;
}

circuit_breaker_settings time_settings(duration window, std::uint32_t buckets,
                                       std::uint32_t min_requests) {
  circuit_breaker_settings s = count_settings(1, 1);
  s.window_type = window_kind::time_based;
  s.window = window;
  s.window_buckets = buckets;
  s.min_requests = min_requests;
  return s;
}

// A breaker whose callback appends to a log (single-threaded tests).
struct logged_breaker {
  explicit logged_breaker(const circuit_breaker_settings& settings)
      : breaker(settings,
                [this](breaker_state from, breaker_state to) { log.emplace_back(from, to); }) {}
  transition_log log;
  circuit_breaker breaker;
};

void record(circuit_breaker& breaker, call_outcome outcome, time_point now, duration took = 1ms) {
  auto permit = breaker.try_admit(now);
  ASSERT_TRUE(permit.admitted());
  permit.record(outcome, took, now);
}

void record_n(circuit_breaker& breaker, int n, call_outcome outcome, time_point now,
              duration took = 1ms) {
  for (int i = 0; i < n; ++i) record(breaker, outcome, now, took);
}

// Opens a count-based breaker of window 1, min 1 with one failure at `now`.
void trip(circuit_breaker& breaker, time_point now) {
  for (int i = 0; i < 1000 && breaker.state() == breaker_state::closed; ++i) {
    record(breaker, call_outcome::failure, now);
  }
  ASSERT_EQ(breaker.state(), breaker_state::open);
}

// --- settings and table ----------------------------------------------------------

TEST(CircuitBreakerSettings, DefaultsAreValid) {
  EXPECT_TRUE(circuit_breaker_settings{}.validate().empty());
  EXPECT_TRUE(count_settings(10, 10).validate().empty());
}

TEST(CircuitBreakerSettings, ReportsEveryProblemAtOnce) {
  circuit_breaker_settings s;
  s.failure_rate = 1.5;
  s.slow_call_rate = 0;
  s.half_open_requests = 128;
  s.open_for = 0s;
  s.min_requests = 0;
  const auto problems = s.validate();
  ASSERT_EQ(problems.size(), 5u);
  EXPECT_EQ(problems[0], "min_requests: must be at least 1, got 0");
  EXPECT_EQ(problems[1], "failure_rate: must be in (0, 1], got 1.5");
  EXPECT_EQ(problems[4], "half_open_requests: must be in [1, 127], got 128");
  EXPECT_THROW(circuit_breaker{s}, std::invalid_argument);
}

TEST(CircuitBreakerSettings, CountWindowNeedsMinRequestsWithinIt) {
  const auto problems = count_settings(10, 11).validate();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "min_requests: must be at most window_calls (10), got 11");
  EXPECT_EQ(count_settings(0, 1).validate().size(), 1u);
  auto nan_rate = count_settings(10, 1);
  nan_rate.failure_rate = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(nan_rate.validate().size(), 1u);
}

TEST(CircuitBreakerTable, HoldsTheAutomaticAndOperatorTransitionsOnly) {
  EXPECT_TRUE(is_allowed_transition(breaker_state::closed, breaker_state::open));
  EXPECT_TRUE(is_allowed_transition(breaker_state::open, breaker_state::half_open));
  EXPECT_TRUE(is_allowed_transition(breaker_state::half_open, breaker_state::closed));
  EXPECT_TRUE(is_allowed_transition(breaker_state::half_open, breaker_state::open));
  EXPECT_FALSE(is_allowed_transition(breaker_state::closed, breaker_state::half_open));
  EXPECT_FALSE(is_allowed_transition(breaker_state::forced_open, breaker_state::open));
  EXPECT_FALSE(is_allowed_transition(breaker_state::forced_closed, breaker_state::half_open));
  EXPECT_FALSE(is_allowed_transition(breaker_state::open, breaker_state::open));
}

// --- closed -> open ------------------------------------------------------------------

TEST(CircuitBreakerClosed, WaitsForMinRequests) {
  logged_breaker b(count_settings(10, 5));
  record_n(b.breaker, 4, call_outcome::failure, t0);
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
  EXPECT_EQ(b.breaker.calls_in_window(t0), 4u);
  EXPECT_DOUBLE_EQ(b.breaker.failure_rate(t0), 1.0);
  record(b.breaker, call_outcome::failure, t0);
  EXPECT_EQ(b.breaker.state(), breaker_state::open);
  EXPECT_EQ(b.log, (transition_log{{breaker_state::closed, breaker_state::open}}));
}

TEST(CircuitBreakerClosed, OpensExactlyAtTheFailureRate) {
  auto s = count_settings(10, 10);
  s.failure_rate = 0.3;
  {
    logged_breaker below(s);  // 2 of 10: 0.2
    record_n(below.breaker, 8, call_outcome::success, t0);
    record_n(below.breaker, 2, call_outcome::failure, t0);
    EXPECT_EQ(below.breaker.state(), breaker_state::closed);
  }
  logged_breaker at(s);  // 3 of 10: exactly 0.3 opens
  record_n(at.breaker, 7, call_outcome::success, t0);
  record_n(at.breaker, 2, call_outcome::failure, t0);
  EXPECT_EQ(at.breaker.state(), breaker_state::closed);  // 9 calls < min_requests
  record(at.breaker, call_outcome::failure, t0);
  EXPECT_EQ(at.breaker.state(), breaker_state::open);
}

TEST(CircuitBreakerClosed, SuccessThatReachesMinRequestsCanOpen) {
  logged_breaker b(count_settings(10, 4));
  record_n(b.breaker, 3, call_outcome::failure, t0);
  record(b.breaker, call_outcome::success, t0);  // 3 of 4 failed: 0.75 >= 0.5
  EXPECT_EQ(b.breaker.state(), breaker_state::open);
}

TEST(CircuitBreakerClosed, SlowMeansLongerThanSlowCall) {
  logged_breaker at_threshold(count_settings(10, 4));
  record_n(at_threshold.breaker, 4, call_outcome::success, t0, 100ms);
  EXPECT_EQ(at_threshold.breaker.state(), breaker_state::closed);
  EXPECT_DOUBLE_EQ(at_threshold.breaker.slow_call_rate(t0), 0.0);

  logged_breaker slow(count_settings(10, 4));
  record_n(slow.breaker, 2, call_outcome::success, t0, 1ms);
  record(slow.breaker, call_outcome::success, t0, 101ms);
  EXPECT_EQ(slow.breaker.state(), breaker_state::closed);  // 3 calls < min_requests
  EXPECT_NEAR(slow.breaker.slow_call_rate(t0), 1.0 / 3, 1e-12);
  record(slow.breaker, call_outcome::success, t0, 101ms);  // 2 of 4 slow: 0.5
  EXPECT_EQ(slow.breaker.state(), breaker_state::open);
}

TEST(CircuitBreakerClosed, IgnoredCallsAreNotMeasured) {
  logged_breaker b(count_settings(10, 1));
  auto permit = b.breaker.try_admit(t0);
  permit.record(call_outcome::ignored, 5s, t0);
  { auto dropped = b.breaker.try_admit(t0); }
  EXPECT_EQ(b.breaker.calls_in_window(t0), 0u);
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
}

TEST(CircuitBreakerClosed, RecordingTwiceCountsOnce) {
  logged_breaker b(count_settings(10, 10));
  auto permit = b.breaker.try_admit(t0);
  permit.record(call_outcome::success, 1ms, t0);
  permit.record(call_outcome::failure, 1ms, t0);
  EXPECT_EQ(b.breaker.totals(t0).calls, 1u);
  EXPECT_EQ(b.breaker.totals(t0).failures, 0u);
}

// --- open -----------------------------------------------------------------------------

TEST(CircuitBreakerOpen, RefusesWithTheTimeLeftUntilOpenFor) {
  logged_breaker b(count_settings(1, 1));
  trip(b.breaker, t0);
  EXPECT_EQ(b.breaker.time_left_open(t0), 10s);
  auto refused = b.breaker.try_admit(t0 + 3s);
  EXPECT_FALSE(refused.admitted());
  EXPECT_EQ(refused.retry_after(), 7s);
  EXPECT_EQ(b.breaker.try_admit(t0 + 10s - 1ns).retry_after(), 1ns);
  EXPECT_EQ(b.breaker.state(), breaker_state::open);
  EXPECT_EQ(b.breaker.time_left_open(t0 + 11s), 0ns);  // due, still open until asked

  auto probe = b.breaker.try_admit(t0 + 10s);
  EXPECT_TRUE(probe.admitted());
  EXPECT_EQ(b.breaker.state(), breaker_state::half_open);
  EXPECT_EQ(b.log, (transition_log{{breaker_state::closed, breaker_state::open},
                                   {breaker_state::open, breaker_state::half_open}}));
}

// --- half_open ---------------------------------------------------------------------------

// A breaker in half_open at t0 + 10s; `probe` holds the first probe.
struct half_open_fixture {
  explicit half_open_fixture(circuit_breaker_settings settings) : b(settings) {
    trip(b.breaker, t0);
    probe = b.breaker.try_admit(probe_time);
  }
  logged_breaker b;
  time_point probe_time = t0 + 10s;
  breaker_permit probe;
};

TEST(CircuitBreakerHalfOpen, AdmitsExactlyHalfOpenRequests) {
  half_open_fixture f(count_settings(1, 1));
  auto second = f.b.breaker.try_admit(f.probe_time);
  auto third = f.b.breaker.try_admit(f.probe_time);
  auto fourth = f.b.breaker.try_admit(f.probe_time);
  EXPECT_TRUE(f.probe && second && third);
  EXPECT_FALSE(fourth.admitted());
  EXPECT_EQ(fourth.retry_after(), 0ns);
}

TEST(CircuitBreakerHalfOpen, ClosesAfterAllProbesSucceedWithAFreshWindow) {
  half_open_fixture f(count_settings(1, 1));
  auto second = f.b.breaker.try_admit(f.probe_time);
  auto third = f.b.breaker.try_admit(f.probe_time);
  f.probe.record(call_outcome::success, 1ms, f.probe_time);
  second.record(call_outcome::success, 1ms, f.probe_time);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::half_open);
  EXPECT_EQ(f.b.breaker.totals(f.probe_time).calls, 2u);
  third.record(call_outcome::success, 1ms, f.probe_time);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::closed);
  EXPECT_EQ(f.b.breaker.calls_in_window(f.probe_time), 0u);
  EXPECT_EQ(f.b.log.back(), std::pair(breaker_state::half_open, breaker_state::closed));
}

TEST(CircuitBreakerHalfOpen, ReopensOnAFailingProbeOnceAllReported) {
  auto s = count_settings(1, 1);
  s.failure_rate = 0.3;  // 1 of 3 probes is enough
  half_open_fixture f(s);
  auto second = f.b.breaker.try_admit(f.probe_time);
  auto third = f.b.breaker.try_admit(f.probe_time);
  f.probe.record(call_outcome::failure, 1ms, f.probe_time);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::half_open);  // decides on all 3
  second.record(call_outcome::success, 1ms, f.probe_time);
  third.record(call_outcome::success, 1ms, f.probe_time + 1s);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::open);
  EXPECT_EQ(f.b.breaker.time_left_open(f.probe_time + 1s), 10s);  // a new open_for
  EXPECT_EQ(f.b.log.back(), std::pair(breaker_state::half_open, breaker_state::open));
}

TEST(CircuitBreakerHalfOpen, ProbesUnderTheRateCloseEvenWithAFailure) {
  half_open_fixture f(count_settings(1, 1));  // failure_rate 0.5: 1 of 3 closes
  auto second = f.b.breaker.try_admit(f.probe_time);
  auto third = f.b.breaker.try_admit(f.probe_time);
  f.probe.record(call_outcome::failure, 1ms, f.probe_time);
  second.record(call_outcome::success, 1ms, f.probe_time);
  third.record(call_outcome::success, 1ms, f.probe_time);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::closed);
}

TEST(CircuitBreakerHalfOpen, SlowProbesReopen) {
  half_open_fixture f(count_settings(1, 1));  // slow_call_rate 0.5: 2 of 3
  auto second = f.b.breaker.try_admit(f.probe_time);
  auto third = f.b.breaker.try_admit(f.probe_time);
  f.probe.record(call_outcome::success, 200ms, f.probe_time);
  second.record(call_outcome::success, 200ms, f.probe_time);
  third.record(call_outcome::success, 1ms, f.probe_time);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::open);
}

TEST(CircuitBreakerHalfOpen, AnIgnoredProbeFreesItsSlot) {
  half_open_fixture f(count_settings(1, 1));
  auto second = f.b.breaker.try_admit(f.probe_time);
  auto third = f.b.breaker.try_admit(f.probe_time);
  EXPECT_FALSE(f.b.breaker.try_admit(f.probe_time).admitted());

  second.record(call_outcome::ignored, 1ms, f.probe_time);
  auto replacement = f.b.breaker.try_admit(f.probe_time);
  EXPECT_TRUE(replacement.admitted());
  { breaker_permit dropped = std::move(third); }  // destroyed unrecorded: ignored
  auto another = f.b.breaker.try_admit(f.probe_time);
  EXPECT_TRUE(another.admitted());
  EXPECT_FALSE(f.b.breaker.try_admit(f.probe_time).admitted());

  // Three real outcomes still decide.
  f.probe.record(call_outcome::success, 1ms, f.probe_time);
  replacement.record(call_outcome::success, 1ms, f.probe_time);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::half_open);
  another.record(call_outcome::success, 1ms, f.probe_time);
  EXPECT_EQ(f.b.breaker.state(), breaker_state::closed);
}

TEST(CircuitBreakerHalfOpen, MoveAssignmentReleasesTheOverwrittenProbe) {
  half_open_fixture f(count_settings(1, 1));
  auto second = f.b.breaker.try_admit(f.probe_time);
  auto third = f.b.breaker.try_admit(f.probe_time);
  second = std::move(third);  // second's slot is given back, third's moves
  EXPECT_TRUE(second.admitted());
  EXPECT_FALSE(third.admitted());  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_TRUE(f.b.breaker.try_admit(f.probe_time).admitted());
}

// --- generations ------------------------------------------------------------------------

TEST(CircuitBreakerGenerations, ARecordFromAnOlderClosedPeriodIsDropped) {
  logged_breaker b(count_settings(4, 1));
  auto old = b.breaker.try_admit(t0);
  trip(b.breaker, t0);
  std::vector<breaker_permit> probes;
  for (int i = 0; i < 3; ++i) probes.push_back(b.breaker.try_admit(t0 + 10s));
  for (auto& p : probes) p.record(call_outcome::success, 1ms, t0 + 10s);
  ASSERT_EQ(b.breaker.state(), breaker_state::closed);

  old.record(call_outcome::failure, 1ms, t0 + 11s);
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
  EXPECT_EQ(b.breaker.calls_in_window(t0 + 11s), 0u);
}

TEST(CircuitBreakerGenerations, AStaleProbeNeitherCountsNorFreesANewSlot) {
  auto s = count_settings(1, 1);
  s.half_open_requests = 1;
  logged_breaker b(s);
  trip(b.breaker, t0);
  auto stale_probe = b.breaker.try_admit(t0 + 10s);
  auto stale_ignored = std::move(stale_probe);
  b.breaker.force_open();
  b.breaker.reset();
  trip(b.breaker, t0 + 20s);
  auto probe = b.breaker.try_admit(t0 + 30s);
  ASSERT_TRUE(probe.admitted());
  ASSERT_EQ(b.breaker.state(), breaker_state::half_open);

  { breaker_permit gone = std::move(stale_ignored); }  // must not free `probe`'s slot
  EXPECT_FALSE(b.breaker.try_admit(t0 + 30s).admitted());
  EXPECT_EQ(b.breaker.totals(t0 + 30s).calls, 0u);
}

TEST(CircuitBreakerGenerations, TimeWindowStartsEmptyAfterClosing) {
  auto s = time_settings(10s, 10, 2);
  s.half_open_requests = 1;
  logged_breaker b(s);
  record_n(b.breaker, 2, call_outcome::failure, t0);
  ASSERT_EQ(b.breaker.state(), breaker_state::open);
  record(b.breaker, call_outcome::success, t0 + 10s);  // the probe closes it
  ASSERT_EQ(b.breaker.state(), breaker_state::closed);
  // The failures of t0 are inside the last 10 s, but not in this closed period.
  EXPECT_EQ(b.breaker.calls_in_window(t0 + 10s), 0u);
  record(b.breaker, call_outcome::failure, t0 + 10s);
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
}

// --- windows -------------------------------------------------------------------------------

TEST(CircuitBreakerCountWindow, KeepsTheLastNCalls) {
  auto s = count_settings(4, 4);
  s.failure_rate = 1.0;
  logged_breaker b(s);
  record_n(b.breaker, 3, call_outcome::failure, t0);
  const std::vector<std::pair<call_outcome, double>> steps{
      {call_outcome::success, 0.75},  // F F F S
      {call_outcome::success, 0.5},   // F F S S
      {call_outcome::success, 0.25},  // F S S S
      {call_outcome::failure, 0.25},  // S S S F
      {call_outcome::success, 0.25},  // S S F S
  };
  for (const auto& [outcome, rate] : steps) {
    record(b.breaker, outcome, t0);
    EXPECT_EQ(b.breaker.calls_in_window(t0), 4u);
    EXPECT_DOUBLE_EQ(b.breaker.failure_rate(t0), rate);
  }
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
}

TEST(CircuitBreakerTimeWindow, OldBucketsExpire) {
  logged_breaker b(time_settings(10s, 10, 100));
  record_n(b.breaker, 2, call_outcome::failure, t0);
  record(b.breaker, call_outcome::failure, t0 + 500ms, 200ms);
  record_n(b.breaker, 3, call_outcome::success, t0 + 5s);

  const auto at = [&](time_point now) {
    const auto t = b.breaker.totals(now);
    return std::tuple(t.calls, t.failures, t.slow_calls);
  };
  EXPECT_EQ(at(t0 + 9999ms), std::tuple(6u, 3u, 1u));
  EXPECT_EQ(at(t0 + 10s), std::tuple(3u, 0u, 0u));  // bucket [t0, t0 + 1s) left
  EXPECT_EQ(at(t0 + 15s - 1ns), std::tuple(3u, 0u, 0u));
  EXPECT_EQ(at(t0 + 15s), std::tuple(0u, 0u, 0u));
  EXPECT_EQ(at(t0 + 1h), std::tuple(0u, 0u, 0u));
}

TEST(CircuitBreakerTimeWindow, ABucketIsReusedForItsNextLap) {
  logged_breaker b(time_settings(4s, 4, 100));
  record_n(b.breaker, 5, call_outcome::failure, t0);
  record_n(b.breaker, 2, call_outcome::success, t0 + 4s);  // same bucket, next lap
  EXPECT_EQ(b.breaker.totals(t0 + 4s).calls, 2u);
  EXPECT_EQ(b.breaker.totals(t0 + 4s).failures, 0u);
}

TEST(CircuitBreakerTimeWindow, OpensOnlyOnFailuresInsideTheWindow) {
  logged_breaker b(time_settings(10s, 10, 3));
  for (int i = 0; i < 20; ++i) {  // one failure every 5 s: at most 2 in any window
    record(b.breaker, call_outcome::failure, t0 + i * 5s);
  }
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
  record(b.breaker, call_outcome::failure, t0 + 95s + 1s);
  EXPECT_EQ(b.breaker.state(), breaker_state::open);
}

// --- operator -----------------------------------------------------------------------------

TEST(CircuitBreakerForced, ForcedOpenRefusesUntilReset) {
  logged_breaker b(count_settings(10, 1));
  auto before = b.breaker.try_admit(t0);
  b.breaker.force_open();
  b.breaker.force_open();  // already there: no transition
  EXPECT_EQ(b.breaker.state(), breaker_state::forced_open);
  const auto refused = b.breaker.try_admit(t0 + 24h);
  EXPECT_FALSE(refused.admitted());
  EXPECT_EQ(refused.retry_after(), 10s);
  EXPECT_EQ(b.breaker.time_left_open(t0), 10s);
  before.record(call_outcome::failure, 1ms, t0);  // admitted before: stale

  b.breaker.reset();
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
  EXPECT_EQ(b.breaker.calls_in_window(t0), 0u);
  EXPECT_EQ(b.log, (transition_log{{breaker_state::closed, breaker_state::forced_open},
                                   {breaker_state::forced_open, breaker_state::closed}}));
}

TEST(CircuitBreakerForced, ForcedClosedAdmitsAndMeasuresNothing) {
  logged_breaker b(count_settings(10, 1));
  trip(b.breaker, t0);
  b.breaker.force_close();
  record_n(b.breaker, 50, call_outcome::failure, t0, 10s);
  EXPECT_EQ(b.breaker.state(), breaker_state::forced_closed);
  EXPECT_EQ(b.breaker.calls_in_window(t0), 0u);
  b.breaker.force_open();
  b.breaker.force_close();
  EXPECT_EQ(b.log, (transition_log{{breaker_state::closed, breaker_state::open},
                                   {breaker_state::open, breaker_state::forced_closed},
                                   {breaker_state::forced_closed, breaker_state::forced_open},
                                   {breaker_state::forced_open, breaker_state::forced_closed}}));
}

TEST(CircuitBreakerForced, ResetOfAClosedBreakerEmptiesTheWindowSilently) {
  logged_breaker b(count_settings(10, 5));
  record_n(b.breaker, 4, call_outcome::failure, t0);
  b.breaker.reset();
  EXPECT_EQ(b.breaker.calls_in_window(t0), 0u);
  record_n(b.breaker, 4, call_outcome::failure, t0);
  EXPECT_EQ(b.breaker.state(), breaker_state::closed);
  EXPECT_TRUE(b.log.empty());
}

TEST(CircuitBreakerForced, ResetFromHalfOpenAndOpen) {
  half_open_fixture f(count_settings(1, 1));
  f.b.breaker.reset();
  EXPECT_EQ(f.b.breaker.state(), breaker_state::closed);
  f.probe.record(call_outcome::failure, 1ms, f.probe_time);  // stale probe
  EXPECT_EQ(f.b.breaker.state(), breaker_state::closed);
  trip(f.b.breaker, f.probe_time);
  f.b.breaker.reset();
  EXPECT_EQ(f.b.breaker.state(), breaker_state::closed);
  EXPECT_EQ(f.b.log, (transition_log{{breaker_state::closed, breaker_state::open},
                                     {breaker_state::open, breaker_state::half_open},
                                     {breaker_state::half_open, breaker_state::closed},
                                     {breaker_state::closed, breaker_state::open},
                                     {breaker_state::open, breaker_state::closed}}));
}

TEST(CircuitBreakerCallback, MayCallBackIntoTheBreaker) {
  transition_log log;
  circuit_breaker* self = nullptr;
  circuit_breaker breaker(count_settings(1, 1), [&](breaker_state from, breaker_state to) {
    log.emplace_back(from, to);
    if (to == breaker_state::open) self->force_close();  // no deadlock
  });
  self = &breaker;
  record(breaker, call_outcome::failure, t0);
  EXPECT_EQ(breaker.state(), breaker_state::forced_closed);
  EXPECT_EQ(log, (transition_log{{breaker_state::closed, breaker_state::open},
                                 {breaker_state::open, breaker_state::forced_closed}}));
}

// --- property test against a reference model ------------------------------------------------

// The breaker's semantics written the obvious way: one thread, plain fields, the
// window as the list of the calls recorded since the breaker last entered closed.
class reference_breaker {
 public:
  explicit reference_breaker(circuit_breaker_settings s) : s_(s) {}

  struct admission {
    bool admitted = false;
    std::uint32_t generation = 0;
    duration retry_after{};
  };

  admission admit(time_point now) {
    switch (state_) {
      case breaker_state::closed:
      case breaker_state::forced_closed:
        return {true, generation_, {}};
      case breaker_state::forced_open:
        return {false, 0, s_.open_for};
      case breaker_state::open:
        if (open_until_ > now) return {false, 0, open_until_ - now};
        move_to(breaker_state::half_open);
        admitted_ = 1;
        return {true, generation_, {}};
      case breaker_state::half_open:
        if (admitted_ >= s_.half_open_requests) return {false, 0, 0ns};
        ++admitted_;
        return {true, generation_, {}};
    }
    return {};
  }

  void record(std::uint32_t generation, call_outcome outcome, duration took, time_point now) {
    if (generation != generation_) return;
    if (outcome == call_outcome::ignored) {
      if (state_ == breaker_state::half_open) --admitted_;
      return;
    }
    const call_sample sample{outcome == call_outcome::failure, took > s_.slow_call};
    if (state_ == breaker_state::closed) {
      calls_.push_back({now, sample});
      const auto t = totals(now);
      if (t.calls >= s_.min_requests && over(t)) open(now);
    } else if (state_ == breaker_state::half_open) {
      ++reported_;
      failures_ += sample.failed;
      slow_ += sample.slow;
      if (reported_ < s_.half_open_requests) return;
      if (over({reported_, failures_, slow_})) {
        open(now);
      } else {
        move_to(breaker_state::closed);
      }
    }
  }

  void force(breaker_state target) {
    if (state_ != target) move_to(target);
  }
  void reset() { move_to(breaker_state::closed); }

  window_totals totals(time_point now) const {
    if (state_ == breaker_state::half_open) return {reported_, failures_, slow_};
    if (state_ != breaker_state::closed) return {};
    const std::size_t first =
        s_.window_type == window_kind::count_based && calls_.size() > s_.window_calls
            ? calls_.size() - s_.window_calls
            : 0;
    const auto width = s_.window / s_.window_buckets;
    window_totals t;
    for (std::size_t i = first; i < calls_.size(); ++i) {
      if (s_.window_type == window_kind::time_based &&
          calls_[i].at.time_since_epoch() / width + s_.window_buckets <=
              now.time_since_epoch() / width) {
        continue;
      }
      ++t.calls;
      t.failures += calls_[i].sample.failed;
      t.slow_calls += calls_[i].sample.slow;
    }
    return t;
  }

  duration time_left_open(time_point now) const {
    if (state_ == breaker_state::forced_open) return s_.open_for;
    if (state_ != breaker_state::open) return 0ns;
    return std::max(open_until_ - now, duration::zero());
  }

  breaker_state state() const { return state_; }
  const transition_log& log() const { return log_; }

 private:
  struct timed_call {
    time_point at;
    call_sample sample;
  };

  bool over(const window_totals& t) const {
    return t.failure_rate() >= s_.failure_rate || t.slow_call_rate() >= s_.slow_call_rate;
  }
  void open(time_point now) {
    open_until_ = std::max(open_until_, now + s_.open_for);
    move_to(breaker_state::open);
  }
  void move_to(breaker_state to) {
    if (to != state_) log_.emplace_back(state_, to);
    state_ = to;
    ++generation_;
    calls_.clear();
    admitted_ = reported_ = failures_ = slow_ = 0;
  }

  const circuit_breaker_settings s_;
  breaker_state state_ = breaker_state::closed;
  std::uint32_t generation_ = 0;
  time_point open_until_{};
  std::vector<timed_call> calls_;
  std::uint32_t admitted_ = 0, reported_ = 0;
  transition_log log_;
  std::uint64_t failures_ = 0, slow_ = 0;
};

using transition_counts = std::map<std::pair<breaker_state, breaker_state>, int>;

void run_against_model(const circuit_breaker_settings& settings, std::uint32_t seed,
                       transition_counts& seen) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  logged_breaker real(settings);
  reference_breaker model(settings);
  std::mt19937 random(seed);
  const auto pick = [&random](int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(random);
  };
  const std::vector<duration> durations{50ms, 100ms, 150ms};
  time_point now = t0;
  std::vector<std::pair<breaker_permit, std::uint32_t>> held;

  for (int step = 0; step < 3000; ++step) {
    const int op = pick(100);
    if (op < 35) {
      auto permit = real.breaker.try_admit(now);
      const auto expected = model.admit(now);
      ASSERT_EQ(permit.admitted(), expected.admitted) << "step " << step;
      if (permit) {
        held.emplace_back(std::move(permit), expected.generation);
      } else {
        ASSERT_EQ(permit.retry_after(), expected.retry_after) << "step " << step;
      }
    } else if (op < 72 && !held.empty()) {
      const auto index = static_cast<std::size_t>(pick(static_cast<int>(held.size())));
      const int kind = pick(100);
      const auto outcome = kind < 50   ? call_outcome::success
                           : kind < 88 ? call_outcome::failure
                                       : call_outcome::ignored;
      const duration took = durations[static_cast<std::size_t>(pick(3))];
      held[index].first.record(outcome, took, now);
      model.record(held[index].second, outcome, took, now);
      held.erase(held.begin() + static_cast<std::ptrdiff_t>(index));
    } else if (op < 76 && !held.empty()) {
      model.record(held.front().second, call_outcome::ignored, 0ns, now);
      held.erase(held.begin());  // destroyed unrecorded
    } else if (op < 96) {
      now += std::chrono::milliseconds(pick(1500));
    } else if (op == 96) {
      real.breaker.force_open();
      model.force(breaker_state::forced_open);
    } else if (op == 97) {
      real.breaker.force_close();
      model.force(breaker_state::forced_closed);
    } else if (op == 98) {
      real.breaker.reset();
      model.reset();
    }
    ASSERT_EQ(real.breaker.state(), model.state()) << "step " << step;
    const auto got = real.breaker.totals(now);
    const auto want = model.totals(now);
    ASSERT_EQ(got.calls, want.calls) << "step " << step;
    ASSERT_EQ(got.failures, want.failures) << "step " << step;
    ASSERT_EQ(got.slow_calls, want.slow_calls) << "step " << step;
    ASSERT_EQ(real.breaker.time_left_open(now), model.time_left_open(now)) << "step " << step;
  }
  EXPECT_EQ(real.log, model.log());
  for (const auto& [from, to] : real.log) {
    EXPECT_TRUE(is_allowed_transition(from, to));
    ++seen[{from, to}];
  }
}

void run_seeds(const circuit_breaker_settings& settings) {
  transition_counts seen;
  for (std::uint32_t seed = 1; seed <= 30; ++seed) run_against_model(settings, seed, seen);
  // The sequences must have exercised the whole machine to mean anything.
  for (const auto& t : allowed_transitions) {
    EXPECT_GT((seen[{t.from, t.to}]), 0) << to_string(t.from) << " -> " << to_string(t.to);
  }
}

TEST(CircuitBreakerProperty, CountWindowMatchesTheReferenceModel) {
  auto s = count_settings(6, 3);
  s.open_for = 2s;
  s.half_open_requests = 2;
  run_seeds(s);
}

TEST(CircuitBreakerProperty, TimeWindowMatchesTheReferenceModel) {
  auto s = time_settings(4s, 4, 3);
  s.open_for = 2s;
  s.half_open_requests = 2;
  s.slow_call_rate = 0.6;
  run_seeds(s);
}

// --- threads ----------------------------------------------------------------------------------

// Runs `body(thread_index)` on `threads` threads released together.
template <class Body>
void run_together(int threads, Body body) {
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&go, &body, i] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(i);
    });
  }
  go.store(true, std::memory_order_release);
  for (auto& thread : pool) thread.join();
}

TEST(CircuitBreakerThreads, HalfOpenAdmitsExactlyNWithEightThreadsHammering) {
  for (std::uint32_t n : {1U, 3U, 7U}) {
    for (int round = 0; round < 30; ++round) {
      auto s = count_settings(1, 1);
      s.half_open_requests = n;
      circuit_breaker breaker(s);
      trip(breaker, t0);
      std::atomic<std::uint32_t> admitted{0};
      std::vector<std::vector<breaker_permit>> held(8);
      run_together(8, [&](int thread) {
        for (int i = 0; i < 200; ++i) {
          auto permit = breaker.try_admit(t0 + 10s);
          if (!permit) continue;
          admitted.fetch_add(1, std::memory_order_relaxed);
          held[static_cast<std::size_t>(thread)].push_back(std::move(permit));
        }
      });
      ASSERT_EQ(admitted.load(), n) << "round " << round;
      ASSERT_EQ(breaker.state(), breaker_state::half_open);
    }
  }
}

TEST(CircuitBreakerThreads, HalfOpenNeverHasMoreThanNProbesInFlight) {
  auto s = count_settings(1, 1);
  s.half_open_requests = 3;
  circuit_breaker breaker(s);
  trip(breaker, t0);
  std::atomic<int> in_flight{0};
  std::atomic<int> most{0};
  std::atomic<int> admitted{0};
  run_together(8, [&](int) {
    for (int i = 0; i < 5000; ++i) {
      auto permit = breaker.try_admit(t0 + 10s);
      if (!permit) continue;
      admitted.fetch_add(1, std::memory_order_relaxed);
      const int now_in_flight = in_flight.fetch_add(1) + 1;
      int seen = most.load();
      while (seen < now_in_flight && !most.compare_exchange_weak(seen, now_in_flight)) {
      }
      in_flight.fetch_sub(1);
      permit.record(call_outcome::ignored, 1ms, t0 + 10s);
    }
  });
  EXPECT_LE(most.load(), 3);
  EXPECT_GT(admitted.load(), 3);  // slots were given back and reused
  EXPECT_EQ(breaker.state(), breaker_state::half_open);
}

TEST(CircuitBreakerThreads, ClosedCountsEveryCallExactly) {
  constexpr int threads = 4;
  constexpr int per_thread = 20'000;
  for (const auto& settings :
       {count_settings(count_window::max_size, 100), time_settings(10s, 10, 100)}) {
    auto s = settings;
    // A quarter of each thread's calls fail and a quarter are slow, so no 100
    // calls are ever all failures or all slow: the breaker stays closed.
    s.failure_rate = 1.0;
    s.slow_call_rate = 1.0;
    circuit_breaker breaker(s);
    run_together(threads, [&](int) {
      for (int i = 0; i < per_thread; ++i) {
        auto permit = breaker.try_admit(t0);
        const auto outcome = i % 4 == 0 ? call_outcome::failure : call_outcome::success;
        permit.record(outcome, i % 4 == 1 ? 1s : 1ms, t0 + 5s);
      }
    });
    const auto t = breaker.totals(t0 + 5s);
    EXPECT_EQ(t.calls, std::uint64_t{threads * per_thread});
    EXPECT_EQ(t.failures, std::uint64_t{threads * per_thread / 4});
    EXPECT_EQ(t.slow_calls, std::uint64_t{threads * per_thread / 4});
    EXPECT_EQ(breaker.state(), breaker_state::closed);
  }
}

TEST(CircuitBreakerThreads, CountWindowSettlesOnExactlyNCalls) {
  auto s = count_settings(1000, 100);
  s.failure_rate = 1.0;
  circuit_breaker breaker(s);
  run_together(4, [&](int) {
    for (int i = 0; i < 20'000; ++i) {
      auto permit = breaker.try_admit(t0);
      permit.record(i % 4 == 0 ? call_outcome::failure : call_outcome::success, 1ms, t0);
    }
  });
  // Each slot ends with the latest call that mapped to it, so the window is the
  // last 1000 calls: for each thread a run of consecutive calls, each run within
  // one failure of a quarter of its length.
  const auto t = breaker.totals(t0);
  EXPECT_EQ(t.calls, 1000u);
  EXPECT_GE(t.failures, 246u);
  EXPECT_LE(t.failures, 254u);
  EXPECT_EQ(breaker.state(), breaker_state::closed);
}

// With a window of one or two calls, calls N apart race for the same slot all
// the time; the loser must take its call back out of the total.
TEST(CircuitBreakerThreads, TinyCountWindowSettlesOnExactlyNCalls) {
  for (std::uint32_t size : {1U, 2U}) {
    circuit_breaker breaker(count_settings(size, 1));
    run_together(4, [&](int) {
      for (int i = 0; i < 20'000; ++i) {
        auto permit = breaker.try_admit(t0);
        permit.record(call_outcome::success, 1ms, t0);
      }
    });
    EXPECT_EQ(breaker.totals(t0).calls, size);
    EXPECT_EQ(breaker.state(), breaker_state::closed);
  }
}

TEST(CircuitBreakerThreads, ManyThreadsCrossingTheThresholdOpenOnce) {
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> opened{0};
    circuit_breaker breaker(count_settings(100, 50), [&](breaker_state, breaker_state to) {
      if (to == breaker_state::open) opened.fetch_add(1);
    });
    run_together(8, [&](int) {
      for (int i = 0; i < 50; ++i) {
        auto permit = breaker.try_admit(t0);
        if (permit) permit.record(call_outcome::failure, 1ms, t0);
      }
    });
    ASSERT_EQ(opened.load(), 1) << "round " << round;
    ASSERT_EQ(breaker.state(), breaker_state::open);
  }
}

// Random traffic from several threads with time moving forward: every
// transition the callback sees is in the table, and for every state the
// transitions into it and out of it balance, whatever order the callbacks ran in.
TEST(CircuitBreakerThreads, RandomTrafficFollowsTheTable) {
  auto s = count_settings(20, 5);
  s.open_for = 50ms;
  s.half_open_requests = 2;
  std::mutex mutex;
  transition_log log;
  circuit_breaker breaker(s, [&](breaker_state from, breaker_state to) {
    std::lock_guard lock(mutex);
    log.emplace_back(from, to);
  });
  std::atomic<std::int64_t> clock_ns{t0.time_since_epoch().count()};
  run_together(4, [&](int thread) {
    std::mt19937 random(static_cast<std::uint32_t>(thread) + 7);
    for (int i = 0; i < 20'000; ++i) {
      const time_point now{duration{clock_ns.fetch_add(100'000)}};  // 0.1 ms per call
      if (thread == 0 && i % 5000 == 4999) breaker.force_open();
      if (thread == 1 && i % 5000 == 0) breaker.reset();
      auto permit = breaker.try_admit(now);
      if (!permit) continue;
      const auto roll = random() % 10;
      if (roll == 0) continue;  // dropped: ignored
      permit.record(roll < 5 ? call_outcome::failure : call_outcome::success, 1ms, now);
    }
  });
  std::map<breaker_state, int> balance;
  for (const auto& [from, to] : log) {
    EXPECT_TRUE(is_allowed_transition(from, to));
    --balance[from];
    ++balance[to];
  }
  std::map<breaker_state, int> expected;
  if (breaker.state() != breaker_state::closed) {
    expected[breaker.state()] = 1;
    expected[breaker_state::closed] = -1;
  }
  for (auto state : {breaker_state::closed, breaker_state::open, breaker_state::half_open,
                     breaker_state::forced_open, breaker_state::forced_closed}) {
    EXPECT_EQ(balance[state], expected[state]) << to_string(state);
  }
  EXPECT_GT(log.size(), 10u);
}

}  // namespace
}  // namespace bulwark::core
