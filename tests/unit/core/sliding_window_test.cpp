// sliding_window: every decision is checked against an exact log of admitted
// requests: the two-window estimate recomputed from the log must agree, and the
// documented error bound versus the exact sliding count must hold; plus honest
// retry_after, window expiry and threads racing for the last unit.
#include "core/sliding_window.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

#include "unit/core/test_time.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;
using test::arrival;
using test::at;
using wide = __int128;

// The admitted requests, in time order, and the sums the header's bound talks about.
struct admission_log {
  std::int64_t per;
  std::vector<arrival> admitted;

  std::uint64_t cost_in(std::int64_t from, std::int64_t to) const {  // [from, to)
    std::uint64_t total = 0;
    for (const arrival& a : admitted) total += (a.at >= from && a.at < to) ? a.cost : 0;
    return total;
  }
  std::uint64_t sliding(std::int64_t now) const {  // (now - per, now]
    return cost_in(now - per + 1, now + 1);
  }
};

std::vector<arrival> window_schedule(std::mt19937_64& rng, std::int64_t per, std::uint64_t count,
                                     std::size_t n) {
  std::vector<arrival> out;
  std::int64_t now = 3'000'000'000'000;
  const auto mean_gap = static_cast<std::uint64_t>(per) / (2 * count) + 1;
  for (std::size_t i = 0; i < n; ++i) {
    switch (rng() % 5) {
      case 0: break;
      case 1:
      case 2: now += static_cast<std::int64_t>(rng() % (2 * mean_gap)); break;
      case 3: now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(per)); break;
      default: now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(3 * per)); break;
    }
    out.push_back({now, rng() % 6 == 0 ? rng() % (count + 1) + 1 : 1});
  }
  return out;
}

const std::vector<rate_limit_spec> window_specs = {
    {5, 60s, 0}, {100, 1s, 0}, {7, 10s, 0}, {1, 1s, 0}, {1000, 1h, 0}, {sliding_window::max_count, 1s, 0},
};

TEST(SlidingWindowTest, AgreesWithTheEstimateFromAnExactLogAndStaysWithinTheBound) {
  std::mt19937_64 rng(2017);
  for (const rate_limit_spec& spec : window_specs) {
    const std::int64_t per = spec.per.count();
    const auto count = static_cast<wide>(spec.count);
    sliding_window limiter(spec);
    admission_log log{per, {}};
    std::size_t refusals = 0;
    for (const arrival& a : window_schedule(rng, per, spec.count, 1500)) {
      const std::int64_t window_start = a.at / per * per;
      const std::int64_t elapsed = a.at - window_start;
      const auto prev = static_cast<wide>(log.cost_in(window_start - per, window_start));
      const auto curr = static_cast<wide>(log.cost_in(window_start, a.at + 1));
      const auto exact = static_cast<wide>(log.sliding(a.at));
      const auto cost = static_cast<wide>(a.cost);
      const bool expected = prev * (per - elapsed) + (curr + cost) * per <= count * per;

      const rate_limit_decision d = limiter.try_acquire(at(a.at), a.cost);
      ASSERT_EQ(d.allowed, expected) << "at " << a.at << " cost " << a.cost;
      if (d.allowed) {
        log.admitted.push_back(a);
        // S + c <= count + P*f
        ASSERT_LE((exact + cost - count) * per, prev * elapsed);
        ASSERT_LE(curr + cost, count);  // each fixed window holds at most count
      } else if (a.cost <= spec.count) {
        ++refusals;
        // S + c > count - P*(1 - f)
        ASSERT_GT((exact + cost - count) * per, -prev * (per - elapsed));
      }
    }
    EXPECT_GT(refusals, 0u);
    // Any interval of length `per` holds less than 2 * count.
    for (std::size_t i = 0; i < log.admitted.size(); ++i) {
      ASSERT_LT(log.cost_in(log.admitted[i].at, log.admitted[i].at + per), 2 * spec.count);
    }
  }
}

TEST(SlidingWindowTest, RetryAfterIsExact) {
  std::mt19937_64 rng(5);
  for (const rate_limit_spec& spec : window_specs) {
    sliding_window limiter(spec);
    int checked = 0;
    for (const arrival& a : window_schedule(rng, spec.per.count(), spec.count, 600)) {
      if (a.cost > spec.count) continue;
      const rate_limit_decision d = limiter.try_acquire(at(a.at), a.cost);
      if (d.allowed) continue;
      ASSERT_GT(d.retry_after, 0ns);
      ASSERT_FALSE(limiter.try_acquire(at(a.at) + d.retry_after - 1ns, a.cost).allowed);
      ASSERT_TRUE(limiter.try_acquire(at(a.at) + d.retry_after, a.cost).allowed);
      ++checked;
    }
    EXPECT_GT(checked, 5);
  }
}

TEST(SlidingWindowTest, PreviousWindowWeighsLinearly) {
  sliding_window limiter({10, 10s, 0});
  const std::int64_t w = 10'000'000'000;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(limiter.try_acquire(at(w)).allowed);
  const rate_limit_decision full = limiter.try_acquire(at(w + 1));
  EXPECT_FALSE(full.allowed);
  EXPECT_EQ(full.retry_after, 11s - 1ns);  // next window, once the 10 decayed to 9
  EXPECT_EQ(full.reset_after, 20s - 1ns);
  // 30% into the next window the previous 10 weigh 7: three pass, the fourth waits 1 s.
  const time_point t = at(2 * w + 3'000'000'000);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.try_acquire(t).allowed);
  const rate_limit_decision d = limiter.try_acquire(t);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.remaining, 0u);
  EXPECT_EQ(d.retry_after, 1s);
  EXPECT_EQ(d.reset_after, 17s);
  // Two idle windows later everything is forgotten.
  const rate_limit_decision fresh = limiter.try_acquire(at(4 * w), 10);
  EXPECT_TRUE(fresh.allowed);
  EXPECT_EQ(fresh.remaining, 0u);
}

TEST(SlidingWindowTest, CostAboveCountIsNeverAdmitted) {
  sliding_window limiter({5, 1s, 0});
  const rate_limit_decision d = limiter.try_acquire(at(0), 6);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, retry_never);
  EXPECT_EQ(d.remaining, 5u);
}

TEST(SlidingWindowTest, AnOlderNowOneWindowBackIsJudgedConservatively) {
  sliding_window limiter({4, 1s, 0});
  EXPECT_TRUE(limiter.try_acquire(at(5'500'000'000), 3).allowed);
  // A thread still in window 4 sees window 5 with its previous window fully weighted.
  const rate_limit_decision late = limiter.try_acquire(at(4'900'000'000), 2);
  EXPECT_FALSE(late.allowed);
  // Window 6 once the 3 weigh at most 2: 1/3 into it, i.e. at 6.333333334 s.
  EXPECT_EQ(late.retry_after, 1'433'333'334ns);
  EXPECT_TRUE(limiter.try_acquire(at(4'900'000'000), 1).allowed);
}

TEST(SlidingWindowTest, RejectsSpecsItCannotHonour) {
  EXPECT_THROW(sliding_window({0, 1s, 0}), std::invalid_argument);
  EXPECT_THROW(sliding_window({sliding_window::max_count + 1, 1s, 0}), std::invalid_argument);
  EXPECT_THROW(sliding_window({1, 0s, 0}), std::invalid_argument);
}

TEST(SlidingWindowTest, ThreadsNeverShareTheLastUnit) {
  constexpr std::uint64_t count = 20'000;
  for (int round = 0; round < 5; ++round) {
    sliding_window limiter({count, 1s, 0});
    std::atomic<std::uint64_t> admitted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        std::uint64_t mine = 0;
        for (std::uint64_t n = 0; n < count; ++n) mine += limiter.try_acquire(at(123)).allowed;
        admitted += mine;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(admitted.load(), count);
  }
}

}  // namespace
}  // namespace bulwark::core
