// outlier_detector: the consecutive-failure threshold, reset on success,
// ejection time and its lazy expiry, the cap (floor, at least one, zero),
// skipped ejections retried, late outcomes of ejected endpoints, and a
// multi-threaded test that the cap holds at every instant. Time is an argument;
// nothing sleeps.
#include "core/outlier_detector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "unit/core/test_time.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

using test::t0;

outlier_settings settings(std::uint32_t failures, duration eject_for, double max_ejected) {
  outlier_settings s;
  s.consecutive_failures = failures;
  s.eject_for = eject_for;
  s.max_ejected = max_ejected;
  return s;
}

void fail(outlier_detector& d, std::size_t endpoint, int times, time_point now) {
  for (int i = 0; i < times; ++i) d.record(endpoint, true, now);
}

TEST(OutlierDetector, EjectsAfterConsecutiveFailures) {
  outlier_detector d(4, settings(3, 30s, 0.5));
  EXPECT_EQ(d.record(1, true, t0), outlier_event::none);
  EXPECT_EQ(d.record(1, true, t0), outlier_event::none);
  EXPECT_EQ(d.consecutive_failures(1), 2u);
  EXPECT_FALSE(d.ejected(1, t0));
  EXPECT_EQ(d.record(1, true, t0), outlier_event::ejected);
  EXPECT_TRUE(d.ejected(1, t0));
  EXPECT_FALSE(d.ejected(0, t0));
  EXPECT_EQ(d.ejected_count(t0), 1u);
  EXPECT_EQ(d.ejections_total(), 1u);
  EXPECT_EQ(d.consecutive_failures(1), 0u);  // the count starts over after an ejection
}

TEST(OutlierDetector, SuccessResetsTheCount) {
  outlier_detector d(2, settings(3, 30s, 0.5));
  fail(d, 0, 2, t0);
  EXPECT_EQ(d.record(0, false, t0), outlier_event::none);
  EXPECT_EQ(d.consecutive_failures(0), 0u);
  fail(d, 0, 2, t0);
  EXPECT_FALSE(d.ejected(0, t0));
  EXPECT_EQ(d.record(0, true, t0), outlier_event::ejected);
}

TEST(OutlierDetector, EjectionLastsEjectForThenExpires) {
  outlier_detector d(2, settings(1, 30s, 0.5));
  EXPECT_EQ(d.record(0, true, t0), outlier_event::ejected);
  EXPECT_TRUE(d.ejected(0, t0 + 29s));
  EXPECT_TRUE(d.ejected(0, t0 + 30s - 1ms));
  EXPECT_EQ(d.ejected_for(0, t0 + 10s), 20s);
  EXPECT_FALSE(d.ejected(0, t0 + 30s));  // nobody wrote: expiry is lazy
  EXPECT_EQ(d.ejected_for(0, t0 + 30s), duration::zero());
  EXPECT_EQ(d.ejected_count(t0 + 30s), 0u);
}

TEST(OutlierDetector, EjectionRoundsUpToWholeMilliseconds) {
  outlier_detector d(2, settings(1, 10ms, 0.5));
  const auto now = t0 + 300us;
  d.record(0, true, now);
  // Never shorter than eject_for: still ejected at now + 10ms - 1ns.
  EXPECT_TRUE(d.ejected(0, now + 10ms - 1ns));
  EXPECT_FALSE(d.ejected(0, now + 11ms));
}

TEST(OutlierDetector, OutcomesWhileEjectedAreIgnored) {
  outlier_detector d(2, settings(2, 30s, 0.5));
  fail(d, 0, 2, t0);
  ASSERT_TRUE(d.ejected(0, t0));
  EXPECT_EQ(d.record(0, false, t0 + 1s), outlier_event::none);
  EXPECT_TRUE(d.ejected(0, t0 + 1s));  // a late success does not un-eject
  fail(d, 0, 5, t0 + 2s);
  EXPECT_EQ(d.consecutive_failures(0), 0u);  // late failures do not count
  EXPECT_EQ(d.ejected_for(0, t0 + 2s), 28s);  // nor extend the ejection
}

TEST(OutlierDetector, AfterExpiryCountsFromZeroAndCanEjectAgain) {
  outlier_detector d(2, settings(2, 30s, 0.5));
  fail(d, 0, 2, t0);
  const auto later = t0 + 31s;
  EXPECT_EQ(d.record(0, true, later), outlier_event::none);
  EXPECT_EQ(d.consecutive_failures(0), 1u);
  EXPECT_EQ(d.record(0, true, later), outlier_event::ejected);
  EXPECT_EQ(d.ejections_total(), 2u);
  EXPECT_TRUE(d.ejected(0, later + 29s));
}

TEST(OutlierDetector, CapIsFloorOfShare) {
  EXPECT_EQ(outlier_detector(10, settings(1, 1s, 0.5)).max_ejectable(), 5u);
  EXPECT_EQ(outlier_detector(10, settings(1, 1s, 0.39)).max_ejectable(), 3u);
  EXPECT_EQ(outlier_detector(3, settings(1, 1s, 1.0)).max_ejectable(), 3u);
  EXPECT_EQ(outlier_detector(3, settings(1, 1s, 7.0)).max_ejectable(), 3u);  // clamped
}

TEST(OutlierDetector, AtLeastOneWhenShareIsPositive) {
  // floor(0.3 * 2) = 0, but a dead endpoint of two may still be dropped (as Envoy).
  outlier_detector d(2, settings(1, 30s, 0.3));
  EXPECT_EQ(d.max_ejectable(), 1u);
  EXPECT_EQ(d.record(0, true, t0), outlier_event::ejected);
  EXPECT_EQ(d.record(1, true, t0), outlier_event::ejection_skipped);
  EXPECT_FALSE(d.ejected(1, t0));
}

TEST(OutlierDetector, ZeroShareNeverEjectsButCounts) {
  outlier_detector d(2, settings(2, 30s, 0.0));
  EXPECT_EQ(d.max_ejectable(), 0u);
  fail(d, 0, 5, t0);
  EXPECT_FALSE(d.ejected(0, t0));
  EXPECT_EQ(d.consecutive_failures(0), 2u);
  EXPECT_EQ(d.ejections_total(), 0u);
  EXPECT_EQ(d.ejections_skipped_total(), 4u);  // every failure from the threshold on
}

TEST(OutlierDetector, SingleEndpointCanBeEjected) {
  // No panic threshold: the only endpoint goes and nothing is usable.
  outlier_detector d(1, settings(1, 30s, 0.5));
  EXPECT_EQ(d.record(0, true, t0), outlier_event::ejected);
  EXPECT_EQ(d.ejected_count(t0), 1u);
}

TEST(OutlierDetector, SkippedEjectionKeepsTheCountAndRetriesOnNextFailure) {
  outlier_detector d(4, settings(3, 30s, 0.25));  // cap 1
  fail(d, 0, 3, t0);
  ASSERT_TRUE(d.ejected(0, t0));
  fail(d, 1, 2, t0);
  EXPECT_EQ(d.record(1, true, t0), outlier_event::ejection_skipped);
  EXPECT_EQ(d.consecutive_failures(1), 3u);  // stays at the threshold
  EXPECT_EQ(d.record(1, true, t0 + 1s), outlier_event::ejection_skipped);
  EXPECT_EQ(d.consecutive_failures(1), 3u);  // saturates there
  // Endpoint 0's ejection ends; nobody touched it, so its slot is still held:
  // the next failure on 1 must sweep it free and eject.
  EXPECT_EQ(d.record(1, true, t0 + 30s), outlier_event::ejected);
  EXPECT_TRUE(d.ejected(1, t0 + 30s));
  EXPECT_FALSE(d.ejected(0, t0 + 30s));
  EXPECT_EQ(d.ejections_skipped_total(), 2u);
}

TEST(OutlierDetector, SuccessAfterSkippedEjectionResets) {
  outlier_detector d(2, settings(2, 30s, 0.5));  // cap 1
  fail(d, 0, 2, t0);
  fail(d, 1, 2, t0);
  EXPECT_EQ(d.consecutive_failures(1), 2u);
  d.record(1, false, t0);
  EXPECT_EQ(d.consecutive_failures(1), 0u);
}

TEST(OutlierDetector, OutOfRangeEndpointIsIgnored) {
  outlier_detector d(2, settings(1, 30s, 1.0));
  EXPECT_EQ(d.record(7, true, t0), outlier_event::none);
  EXPECT_FALSE(d.ejected(7, t0));
  EXPECT_EQ(d.consecutive_failures(7), 0u);
}

TEST(OutlierDetector, HugeThresholdIsClampedNotWrapped) {
  outlier_detector d(2, settings(1'000'000, 30s, 0.5));
  fail(d, 0, 70'000, t0);
  EXPECT_EQ(d.ejected(0, t0), true);  // clamped to 65535 consecutive failures
}

TEST(OutlierDetector, EjectForNearTheEndOfTimeSaturates) {
  outlier_detector d(2, settings(1, duration::max(), 0.5));
  d.record(0, true, t0);
  EXPECT_TRUE(d.ejected(0, t0 + std::chrono::hours(24 * 365 * 100)));
}

// Many threads fail every endpoint at once, while one thread watches: at no
// instant may more than the cap be ejected; and every endpoint that reached
// the threshold is either ejected or was counted as skipped.
TEST(OutlierDetector, CapHoldsUnderConcurrentFailures) {
  constexpr std::size_t endpoints = 16;
  constexpr double share = 0.25;  // cap 4
  for (int round = 0; round < 8; ++round) {
    outlier_detector d(endpoints, settings(2, 30s, share));
    std::atomic<bool> go{false};
    std::atomic<bool> done{false};
    std::atomic<std::size_t> worst{0};
    std::thread watcher([&] {
      while (!done.load()) {
        worst.store(std::max(worst.load(), d.ejected_count(t0)));
      }
    });
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) {
        }
        for (int k = 0; k < 50; ++k) {
          for (std::size_t e = 0; e < endpoints; ++e) {
            d.record((e + static_cast<std::size_t>(t)) % endpoints, true, t0);
          }
        }
      });
    }
    go.store(true);
    for (auto& thread : threads) thread.join();
    done.store(true);
    watcher.join();
    EXPECT_LE(worst.load(), d.max_ejectable());
    EXPECT_EQ(d.ejected_count(t0), d.max_ejectable());  // enough failures to fill the cap
    EXPECT_EQ(d.ejections_total(), d.max_ejectable());
  }
}

// After a concurrent storm, the cap slots are all accounted for: once every
// ejection is over, a fresh round can eject exactly `cap` endpoints again.
TEST(OutlierDetector, SlotsAreReturnedAfterConcurrentExpiry) {
  constexpr std::size_t endpoints = 8;
  outlier_detector d(endpoints, settings(1, 10s, 0.5));  // cap 4
  auto storm = [&](time_point now) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t, now] {
        for (int k = 0; k < 20; ++k) {
          for (std::size_t e = 0; e < endpoints; ++e) {
            d.record((e * 3 + static_cast<std::size_t>(t)) % endpoints, (k + t) % 3 != 0, now);
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
  };
  storm(t0);
  EXPECT_EQ(d.ejected_count(t0), 4u);
  storm(t0 + 10s);
  EXPECT_EQ(d.ejected_count(t0 + 10s), 4u);
  for (std::size_t e = 0; e < endpoints; ++e) d.record(e, true, t0 + 20s);
  EXPECT_EQ(d.ejected_count(t0 + 20s), 4u);
}

}  // namespace
}  // namespace bulwark::core
