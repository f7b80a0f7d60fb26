// token_bucket: property tests over random arrival schedules against a plain
// (tokens, last refill) reference model, the burst + rate*t bound over every
// window, honest retry_after / reset_after, and threads racing for the last token.
#include "core/token_bucket.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "unit/core/test_time.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;
using test::arrival;
using test::at;

// The textbook bucket: a token count refilled on each call. Tokens are kept
// exactly as a rational with denominator T (so "tokens * T" is an integer).
struct reference_bucket {
  std::int64_t interval;   // T
  std::int64_t capacity;   // burst * T
  std::int64_t scaled;     // tokens * T
  std::int64_t last;

  reference_bucket(std::int64_t t, std::uint64_t burst, std::int64_t start)
      : interval(t), capacity(static_cast<std::int64_t>(burst) * t), scaled(capacity), last(start) {}

  bool try_take(std::int64_t now, std::uint64_t cost) {
    scaled = std::min(capacity, scaled + (now - last));
    last = now;
    const std::int64_t need = static_cast<std::int64_t>(cost) * interval;
    if (need > scaled) return false;
    scaled -= need;
    return true;
  }
  std::uint64_t whole_tokens() const { return static_cast<std::uint64_t>(scaled / interval); }
};

// Bursts, short gaps and long idle gaps, relative to the emission interval.
std::vector<arrival> bucket_schedule(std::mt19937_64& rng, std::int64_t interval,
                                     std::uint64_t burst, std::size_t n) {
  std::uniform_int_distribution<int> kind(0, 9);
  std::uniform_int_distribution<std::uint64_t> cost(1, burst + 1);
  std::vector<arrival> out;
  std::int64_t now = 1'000'000'000'000;
  for (std::size_t i = 0; i < n; ++i) {
    const int k = kind(rng);
    if (k < 4) {
      now += 0;  // a burst: same instant
    } else if (k < 8) {
      now += std::uniform_int_distribution<std::int64_t>(1, interval)(rng);
    } else {
      now += std::uniform_int_distribution<std::int64_t>(interval, 3 * interval * static_cast<std::int64_t>(burst))(rng);
    }
    out.push_back({now, kind(rng) < 7 ? 1 : cost(rng)});
  }
  return out;
}

// Every window [a_i, a_j] of admitted requests: sum of cost <= burst + count*t/per.
void expect_window_bound(const std::vector<arrival>& admitted, const rate_limit_spec& spec) {
  std::vector<std::uint64_t> prefix(admitted.size() + 1, 0);
  for (std::size_t i = 0; i < admitted.size(); ++i) prefix[i + 1] = prefix[i] + admitted[i].cost;
  for (std::size_t i = 0; i < admitted.size(); ++i) {
    for (std::size_t j = i; j < admitted.size(); ++j) {
      const auto total = static_cast<__int128>(prefix[j + 1] - prefix[i]);
      const auto t = static_cast<__int128>(admitted[j].at - admitted[i].at);
      const __int128 excess = total - static_cast<__int128>(spec.burst);
      ASSERT_LE(excess * spec.per.count(), t * static_cast<__int128>(spec.count))
          << "window [" << i << ", " << j << "] admitted " << static_cast<long long>(total);
    }
  }
}

const std::vector<rate_limit_spec> bucket_specs = {
    {5, 60s, 5}, {100, 1s, 10}, {7, 60s, 3}, {1000, 1h, 50}, {3, 1ms, 1}, {10, 1s, 1},
};

TEST(TokenBucketTest, MatchesReferenceModelAndWindowBoundOnRandomSchedules) {
  std::mt19937_64 rng(20240601);
  for (const rate_limit_spec& spec : bucket_specs) {
    for (int round = 0; round < 4; ++round) {
      token_bucket bucket(spec);
      const std::int64_t interval = bucket.emission_interval().count();
      const auto schedule = bucket_schedule(rng, interval, spec.burst, 1500);
      reference_bucket model(interval, spec.burst, schedule.front().at);
      std::vector<arrival> admitted;
      for (const arrival& a : schedule) {
        const rate_limit_decision d = bucket.try_acquire(at(a.at), a.cost);
        ASSERT_EQ(d.allowed, model.try_take(a.at, a.cost)) << "at " << a.at << " cost " << a.cost;
        ASSERT_EQ(d.remaining, model.whole_tokens());
        if (d.allowed) admitted.push_back(a);
      }
      EXPECT_FALSE(admitted.empty());
      expect_window_bound(admitted, spec);
    }
  }
}

TEST(TokenBucketTest, RetryAfterIsExactAndResetAfterIsWhenFull) {
  std::mt19937_64 rng(7);
  for (const rate_limit_spec& spec : bucket_specs) {
    token_bucket bucket(spec);
    const std::int64_t interval = bucket.emission_interval().count();
    int checked_retries = 0;
    for (const arrival& a : bucket_schedule(rng, interval, spec.burst, 800)) {
      if (a.cost > spec.burst) continue;
      const rate_limit_decision d = bucket.try_acquire(at(a.at), a.cost);
      ASSERT_GE(d.reset_after.count(), 0);
      ASSERT_EQ(bucket.tokens(at(a.at) + d.reset_after), spec.burst);
      if (d.reset_after.count() > 0) {
        ASSERT_LT(bucket.tokens(at(a.at) + d.reset_after - 1ns), spec.burst);
      }
      if (d.allowed) {
        ASSERT_EQ(d.retry_after, 0ns);
        continue;
      }
      ASSERT_GT(d.retry_after, 0ns);
      // A refusal changes nothing, so probing just before the promised time is
      // refused and retrying exactly at it is admitted.
      ASSERT_FALSE(bucket.try_acquire(at(a.at) + d.retry_after - 1ns, a.cost).allowed);
      ASSERT_TRUE(bucket.try_acquire(at(a.at) + d.retry_after, a.cost).allowed);
      ++checked_retries;
    }
    EXPECT_GT(checked_retries, 10);
  }
}

TEST(TokenBucketTest, StartsFullAndRefillsContinuously) {
  token_bucket bucket({5, 60s, 5});  // 5/min: one token every 12 s
  const time_point t0 = at(0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.try_acquire(t0).allowed);
  const rate_limit_decision refused = bucket.try_acquire(t0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0u);
  EXPECT_EQ(refused.retry_after, 12s);
  EXPECT_EQ(refused.reset_after, 60s);
  EXPECT_EQ(bucket.tokens(t0 + 36s), 3u);
  const rate_limit_decision later = bucket.try_acquire(t0 + 36s, 2);
  EXPECT_TRUE(later.allowed);
  EXPECT_EQ(later.remaining, 1u);
  EXPECT_EQ(later.reset_after, 48s);
}

TEST(TokenBucketTest, CostAboveBurstIsNeverAdmittedAndTakesNothing) {
  token_bucket bucket({10, 1s, 4});
  const rate_limit_decision d = bucket.try_acquire(at(0), 5);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, retry_never);
  EXPECT_EQ(d.remaining, 4u);
  EXPECT_TRUE(bucket.try_acquire(at(0), 4).allowed);
}

TEST(TokenBucketTest, NonDividingRateRoundsTheIntervalUp) {
  token_bucket bucket({7, 60s, 1});
  EXPECT_EQ(bucket.emission_interval(), 8'571'428'572ns);
  EXPECT_EQ(token_bucket({100, 1s, 1}).emission_interval(), 10ms);
}

TEST(TokenBucketTest, RejectsSpecsItCannotHonour) {
  EXPECT_THROW(token_bucket({0, 1s, 1}), std::invalid_argument);
  EXPECT_THROW(token_bucket({1, 0s, 1}), std::invalid_argument);
  EXPECT_THROW(token_bucket({1, 1s, 0}), std::invalid_argument);
  EXPECT_THROW(token_bucket({1, std::chrono::hours{24 * 365}, 1000}), std::invalid_argument);
}

TEST(TokenBucketTest, AnOlderNowFromAnotherThreadSeesNoExtraTokens) {
  token_bucket bucket({1, 1s, 2});
  EXPECT_TRUE(bucket.try_acquire(at(10'000'000'000), 2).allowed);
  const rate_limit_decision late = bucket.try_acquire(at(9'000'000'000));
  EXPECT_FALSE(late.allowed);
  EXPECT_EQ(late.remaining, 0u);
  EXPECT_EQ(late.retry_after, 2s);  // the token that accrues at 10s + 1s
}

TEST(TokenBucketTest, ThreadsNeverShareTheLastToken) {
  constexpr std::uint64_t burst = 20'000;
  for (int round = 0; round < 5; ++round) {
    token_bucket bucket({1, 1s, burst});
    std::atomic<std::uint64_t> admitted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        std::uint64_t mine = 0;
        for (std::uint64_t n = 0; n < burst; ++n) mine += bucket.try_acquire(at(5)).allowed;
        admitted += mine;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(admitted.load(), burst);
  }
}

TEST(TokenBucketTest, ThreadsWithMixedCostsAndTimesStayWithinTheBound) {
  const rate_limit_spec spec{1000, 1s, 100};  // 1 ms per token
  token_bucket bucket(spec);
  std::atomic<std::uint64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(i));
      std::uint64_t mine = 0;
      for (std::int64_t step = 0; step < 20'000; ++step) {
        const std::uint64_t cost = rng() % 3 + 1;
        if (bucket.try_acquire(at(step * 10'000), cost).allowed) mine += cost;  // 200 ms in all
      }
      admitted += mine;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(admitted.load(), 100u + 200u);
  EXPECT_GE(admitted.load(), 250u);  // four threads keep it drained: nearly all refills are used
}

}  // namespace
}  // namespace bulwark::core
