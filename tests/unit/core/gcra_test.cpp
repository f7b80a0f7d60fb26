// gcra: property tests against the ITU-T I.371 "continuous-state leaky bucket"
// formulation (bucket level X and last conformance time), the burst + rate*t
// bound over every window, agreement with token_bucket, honest retry_after, and
// threads racing for the last unit.
#include "core/gcra.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

#include "core/token_bucket.h"
#include "unit/core/test_time.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;
using test::arrival;
using test::at;

// Level X drains at one ns per ns; a request adds c*T and conforms iff the
// drained level plus c*T stays within the limit burst*T.
struct reference_leaky_bucket {
  std::int64_t interval;
  std::int64_t limit;
  std::int64_t level = 0;
  std::int64_t last_conformance = 0;

  bool try_take(std::int64_t now, std::uint64_t cost) {
    const std::int64_t drained = std::max<std::int64_t>(0, level - (now - last_conformance));
    const std::int64_t next = drained + static_cast<std::int64_t>(cost) * interval;
    if (next > limit) return false;
    level = next;
    last_conformance = now;
    return true;
  }
};

std::vector<arrival> gcra_schedule(std::mt19937_64& rng, std::int64_t interval,
                                   std::uint64_t burst, std::size_t n) {
  std::vector<arrival> out;
  std::int64_t now = 5'000'000'000'000;
  for (std::size_t i = 0; i < n; ++i) {
    switch (rng() % 4) {
      case 0: break;  // same instant
      case 1: now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(interval)) + 1; break;
      case 2: now += interval; break;
      default: now += static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(4 * interval * static_cast<std::int64_t>(burst))); break;
    }
    out.push_back({now, rng() % 5 == 0 ? rng() % (burst + 1) + 1 : 1});
  }
  return out;
}

const std::vector<rate_limit_spec> gcra_specs = {
    {5, 60s, 5}, {100, 1s, 10}, {7, 60s, 3}, {1000, 1h, 50}, {3, 1ms, 1}, {250, 1s, 40},
};

TEST(GcraTest, MatchesTheLeakyBucketAndTheWindowBound) {
  std::mt19937_64 rng(31337);
  for (const rate_limit_spec& spec : gcra_specs) {
    for (int round = 0; round < 4; ++round) {
      gcra limiter(spec);
      const std::int64_t interval = limiter.emission_interval().count();
      reference_leaky_bucket model{interval, static_cast<std::int64_t>(spec.burst) * interval};
      std::vector<arrival> admitted;
      for (const arrival& a : gcra_schedule(rng, interval, spec.burst, 1500)) {
        const rate_limit_decision d = limiter.try_acquire(at(a.at), a.cost);
        ASSERT_EQ(d.allowed, model.try_take(a.at, a.cost)) << "at " << a.at << " cost " << a.cost;
        if (d.allowed) admitted.push_back(a);
      }
      ASSERT_FALSE(admitted.empty());
      std::vector<std::uint64_t> prefix(admitted.size() + 1, 0);
      for (std::size_t i = 0; i < admitted.size(); ++i) prefix[i + 1] = prefix[i] + admitted[i].cost;
      for (std::size_t i = 0; i < admitted.size(); ++i) {
        for (std::size_t j = i; j < admitted.size(); ++j) {
          const auto excess = static_cast<__int128>(prefix[j + 1] - prefix[i]) - spec.burst;
          const auto t = static_cast<__int128>(admitted[j].at - admitted[i].at);
          ASSERT_LE(excess * spec.per.count(), t * spec.count);
        }
      }
    }
  }
}

TEST(GcraTest, DecidesExactlyLikeTheTokenBucket) {
  std::mt19937_64 rng(99);
  for (const rate_limit_spec& spec : gcra_specs) {
    gcra limiter(spec);
    token_bucket bucket(spec);
    for (const arrival& a : gcra_schedule(rng, limiter.emission_interval().count(), spec.burst, 2000)) {
      const rate_limit_decision g = limiter.try_acquire(at(a.at), a.cost);
      const rate_limit_decision b = bucket.try_acquire(at(a.at), a.cost);
      ASSERT_EQ(g.allowed, b.allowed);
      ASSERT_EQ(g.remaining, b.remaining);
      ASSERT_EQ(g.retry_after, b.retry_after);
      ASSERT_EQ(g.reset_after, b.reset_after);
    }
  }
}

TEST(GcraTest, RetryAfterIsExact) {
  std::mt19937_64 rng(4242);
  for (const rate_limit_spec& spec : gcra_specs) {
    gcra limiter(spec);
    int checked = 0;
    for (const arrival& a : gcra_schedule(rng, limiter.emission_interval().count(), spec.burst, 800)) {
      if (a.cost > spec.burst) continue;
      const rate_limit_decision d = limiter.try_acquire(at(a.at), a.cost);
      if (d.allowed) continue;
      ASSERT_FALSE(limiter.try_acquire(at(a.at) + d.retry_after - 1ns, a.cost).allowed);
      ASSERT_TRUE(limiter.try_acquire(at(a.at) + d.retry_after, a.cost).allowed);
      ++checked;
    }
    EXPECT_GT(checked, 10);
  }
}

TEST(GcraTest, TheoreticalArrivalAdvancesByTheEmissionInterval) {
  gcra limiter({10, 1s, 3});  // T = 100 ms, tolerance 300 ms
  const time_point t0 = at(1'000'000'000);
  EXPECT_EQ(limiter.theoretical_arrival(t0), t0);
  const rate_limit_decision first = limiter.try_acquire(t0, 2);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.remaining, 1u);
  EXPECT_EQ(first.reset_after, 200ms);
  EXPECT_EQ(limiter.theoretical_arrival(t0), t0 + 200ms);
  EXPECT_TRUE(limiter.try_acquire(t0).allowed);
  const rate_limit_decision refused = limiter.try_acquire(t0 + 50ms);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after, 50ms);
  EXPECT_EQ(refused.reset_after, 250ms);
}

TEST(GcraTest, CostAboveBurstIsNeverAdmitted) {
  gcra limiter({10, 1s, 3});
  const rate_limit_decision d = limiter.try_acquire(at(0), 4);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after, retry_never);
  EXPECT_EQ(d.remaining, 3u);
}

TEST(GcraTest, ThreadsNeverShareTheLastUnit) {
  constexpr std::uint64_t burst = 20'000;
  for (int round = 0; round < 5; ++round) {
    gcra limiter({1, 1s, burst});
    std::atomic<std::uint64_t> admitted{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      threads.emplace_back([&] {
        std::uint64_t mine = 0;
        for (std::uint64_t n = 0; n < burst; ++n) mine += limiter.try_acquire(at(77)).allowed;
        admitted += mine;
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(admitted.load(), burst);
  }
}

TEST(GcraTest, UsableThroughTheInterface) {
  std::unique_ptr<rate_limiter> limiter = std::make_unique<gcra>(rate_limit_spec{5, 60s, 5});
  EXPECT_EQ(limiter->limit(), 5u);
  EXPECT_EQ(limiter->spec().per, 60s);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter->try_acquire(at(0)).allowed);
  EXPECT_FALSE(limiter->try_acquire(at(0)).allowed);
}

}  // namespace
}  // namespace bulwark::core
