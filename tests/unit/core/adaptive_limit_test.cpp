// Adaptive limits: AIMD and Gradient2 follow Netflix's update rules (checked
// step by step against a model over random samples), rise under low-latency
// saturating load, fall on drops or rising latency, stay inside [min, max];
// the limiter's permits feed the right samples and release on every path.
#include "core/adaptive_limit.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/aimd_limit.h"
#include "core/gradient2_limit.h"
#include "unit/core/test_time.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

using test::t0;

// ---- AIMD -------------------------------------------------------------------

aimd_config small_aimd() {
  aimd_config c;
  c.initial_limit = 10;
  c.min_limit = 5;
  c.max_limit = 50;
  c.backoff_ratio = 0.9;
  c.timeout = 1s;
  return c;
}

TEST(aimd_limit, rises_by_one_per_sample_under_saturating_low_latency_load) {
  aimd_limit limit{small_aimd()};
  for (std::size_t expected = 11; expected <= 50; ++expected) {
    limit.on_sample(t0, 5ms, limit.limit(), false);
    ASSERT_EQ(limit.limit(), expected);
  }
  for (int i = 0; i < 20; ++i) limit.on_sample(t0, 5ms, limit.limit(), false);
  EXPECT_EQ(limit.limit(), 50u);  // max
}

TEST(aimd_limit, does_not_grow_while_app_limited) {
  aimd_limit limit{small_aimd()};
  for (int i = 0; i < 100; ++i) limit.on_sample(t0, 5ms, 4, false);  // 4 * 2 < 10
  EXPECT_EQ(limit.limit(), 10u);
  limit.on_sample(t0, 5ms, 5, false);  // 5 * 2 >= 10
  EXPECT_EQ(limit.limit(), 11u);
}

TEST(aimd_limit, falls_multiplicatively_on_drops_and_timeouts_down_to_min) {
  aimd_config c = small_aimd();
  c.initial_limit = 50;
  aimd_limit limit{c};
  limit.on_sample(t0, 5ms, 50, true);
  EXPECT_EQ(limit.limit(), 45u);
  limit.on_sample(t0, 2s, 1, false);  // rtt above timeout counts as a drop
  EXPECT_EQ(limit.limit(), 40u);
  limit.on_sample(t0, 1s, 1, false);  // at the timeout is not above it: app-limited
  EXPECT_EQ(limit.limit(), 40u);
  for (int i = 0; i < 100; ++i) limit.on_sample(t0, 5ms, 50, true);
  EXPECT_EQ(limit.limit(), 5u);
}

TEST(aimd_limit, follows_the_rule_and_stays_in_bounds_over_random_samples) {
  std::mt19937_64 random{11};
  const aimd_config c = small_aimd();
  aimd_limit limit{c};
  std::size_t model = c.initial_limit;
  for (int i = 0; i < 100'000; ++i) {
    const duration rtt{static_cast<std::int64_t>(random() % 1'500'000'000)};
    const std::size_t inflight = random() % 80;
    const bool dropped = random() % 10 == 0;
    if (dropped || rtt > c.timeout) {
      model = static_cast<std::size_t>(std::floor(static_cast<double>(model) * c.backoff_ratio));
    } else if (inflight * 2 >= model) {
      ++model;
    }
    model = std::clamp(model, c.min_limit, c.max_limit);
    limit.on_sample(t0, rtt, inflight, dropped);
    ASSERT_EQ(limit.limit(), model) << "sample " << i;
  }
}

TEST(aimd_limit, concurrent_increases_are_all_applied) {
  aimd_config c;
  c.initial_limit = 1;
  c.min_limit = 1;
  c.max_limit = 1'000'000;
  aimd_limit limit{c};
  constexpr int threads = 4;
  constexpr int samples = 20'000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < samples; ++i) limit.on_sample(t0, 1ms, 2'000'000, false);
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(limit.limit(), 1u + threads * samples);
}

// ---- Gradient2 ----------------------------------------------------------------

gradient2_config small_gradient2() {
  gradient2_config c;
  c.initial_limit = 20;
  c.min_limit = 10;
  c.max_limit = 200;
  return c;
}

TEST(gradient2_limit, rises_under_steady_low_latency_saturating_load) {
  gradient2_limit limit{small_gradient2()};
  std::size_t previous = limit.limit();
  for (int i = 0; i < 1'000; ++i) {
    limit.on_sample(t0, 10ms, limit.limit(), false);
    ASSERT_GE(limit.limit(), previous);
    previous = limit.limit();
  }
  EXPECT_EQ(limit.limit(), 200u);
}

TEST(gradient2_limit, grows_by_smoothing_times_queue_size_per_sample) {
  gradient2_limit limit{small_gradient2()};
  // gradient 1: new = 20 + 4; smoothed = 20 * 0.8 + 24 * 0.2 = 20.8, then 21.6, 22.4.
  for (int i = 0; i < 3; ++i) limit.on_sample(t0, 10ms, 20, false);
  EXPECT_EQ(limit.limit(), 22u);
  limit.on_sample(t0, 10ms, 20, false);  // 23.2
  EXPECT_EQ(limit.limit(), 23u);
}

TEST(gradient2_limit, falls_when_latency_rises_then_recovers) {
  gradient2_limit limit{small_gradient2()};
  for (int i = 0; i < 500; ++i) limit.on_sample(t0, 10ms, limit.limit(), false);
  ASSERT_EQ(limit.limit(), 200u);

  // Latency x10 under load: gradient 0.5 (its floor), limit * 0.9 + 0.8 per sample.
  for (int i = 0; i < 10; ++i) limit.on_sample(t0, 100ms, limit.limit(), false);
  EXPECT_LT(limit.limit(), 80u);
  for (int i = 0; i < 100; ++i) limit.on_sample(t0, 100ms, limit.limit(), false);
  EXPECT_EQ(limit.limit(), 10u);  // min

  // Back to normal: the long RTT is high, so the gradient is 1 and it regrows.
  for (int i = 0; i < 1'000; ++i) limit.on_sample(t0, 10ms, limit.limit(), false);
  EXPECT_EQ(limit.limit(), 200u);
}

TEST(gradient2_limit, does_not_move_while_app_limited) {
  gradient2_limit limit{small_gradient2()};
  for (int i = 0; i < 100; ++i) limit.on_sample(t0, 10ms, 9, false);  // 9 < 20 / 2
  EXPECT_EQ(limit.limit(), 20u);
  for (int i = 0; i < 100; ++i) limit.on_sample(t0, 1s, 9, true);
  EXPECT_EQ(limit.limit(), 20u);
}

TEST(gradient2_limit, long_rtt_is_the_mean_during_warm_up_then_decays_after_load) {
  gradient2_limit limit{small_gradient2()};
  for (int i = 1; i <= 10; ++i) limit.on_sample(t0, duration{i * 1'000'000}, 0, false);
  EXPECT_DOUBLE_EQ(limit.long_rtt(), 5.5e6);  // mean of 1..10 ms

  // A sample far below the baseline (long / short > 2) also shrinks the
  // baseline by 5% on top of the average.
  const double before = limit.long_rtt();
  const double factor = 2.0 / 601.0;
  limit.on_sample(t0, 1ms, 0, false);
  EXPECT_DOUBLE_EQ(limit.long_rtt(), (before * (1 - factor) + 1e6 * factor) * 0.95);
}

TEST(gradient2_limit, stays_within_bounds_over_random_samples) {
  std::mt19937_64 random{23};
  const gradient2_config c = small_gradient2();
  gradient2_limit limit{c};
  for (int i = 0; i < 100'000; ++i) {
    const duration rtt{static_cast<std::int64_t>(random() % 200'000'000)};
    limit.on_sample(t0, rtt, random() % 300, random() % 7 == 0);
    ASSERT_GE(limit.limit(), c.min_limit);
    ASSERT_LE(limit.limit(), c.max_limit);
  }
}

TEST(gradient2_limit, zero_rtt_does_not_break_the_estimate) {
  gradient2_limit limit{small_gradient2()};
  for (int i = 0; i < 50; ++i) limit.on_sample(t0, 0ns, limit.limit(), false);
  EXPECT_GE(limit.limit(), 20u);
  EXPECT_TRUE(std::isfinite(limit.long_rtt()));
}

TEST(gradient2_limit, concurrent_samples_keep_the_limit_in_bounds) {
  const gradient2_config c = small_gradient2();
  gradient2_limit limit{c};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 20'000; ++i) {
        const duration rtt = (i / 1000 + t) % 2 == 0 ? duration{10ms} : duration{80ms};
        limit.on_sample(t0, rtt, limit.limit(), false);
        ASSERT_GE(limit.limit(), c.min_limit);
        ASSERT_LE(limit.limit(), c.max_limit);
      }
    });
  }
  for (auto& w : workers) w.join();
}

// ---- adaptive_limiter -----------------------------------------------------------

struct sample {
  time_point start;
  duration rtt;
  std::size_t inflight;
  bool dropped;
};

// A fixed limit that records what it is taught.
class recording_limit final : public adaptive_limit {
 public:
  explicit recording_limit(std::size_t limit, std::vector<sample>& samples)
      : adaptive_limit(limit), samples_(samples) {}

  void on_sample(time_point start, duration rtt, std::size_t inflight, bool dropped) override {
    std::lock_guard lock(mutex_);
    samples_.push_back({start, rtt, inflight, dropped});
  }

 private:
  std::mutex mutex_;
  std::vector<sample>& samples_;
};

TEST(adaptive_limiter, admits_up_to_the_limit) {
  std::vector<sample> samples;
  adaptive_limiter limiter{std::make_unique<recording_limit>(2, samples)};
  auto a = limiter.try_acquire(t0);
  auto b = limiter.try_acquire(t0);
  EXPECT_TRUE(a && b);
  EXPECT_FALSE(limiter.try_acquire(t0));
  EXPECT_EQ(limiter.inflight(), 2u);
  a.reset();
  EXPECT_TRUE(limiter.try_acquire(t0));
}

TEST(adaptive_limiter, outcomes_feed_the_right_samples) {
  std::vector<sample> samples;
  adaptive_limiter limiter{std::make_unique<recording_limit>(10, samples)};
  auto first = limiter.try_acquire(t0);
  auto second = limiter.try_acquire(t0 + 1ms);
  auto third = limiter.try_acquire(t0 + 2ms);
  ASSERT_TRUE(first && second && third);

  second->complete(limit_outcome::success, t0 + 31ms);
  first->complete(limit_outcome::dropped, t0 + 5s);
  third->complete(limit_outcome::ignored, t0 + 3ms);
  third->complete(limit_outcome::success, t0 + 4ms);  // already completed: no-op

  ASSERT_EQ(samples.size(), 2u);
  EXPECT_EQ(samples[0].start, t0 + 1ms);
  EXPECT_EQ(samples[0].rtt, 30ms);
  EXPECT_EQ(samples[0].inflight, 2u);  // at acquisition, itself included
  EXPECT_FALSE(samples[0].dropped);
  EXPECT_EQ(samples[1].rtt, 5s);
  EXPECT_EQ(samples[1].inflight, 1u);
  EXPECT_TRUE(samples[1].dropped);
  EXPECT_EQ(limiter.inflight(), 0u);
}

TEST(adaptive_limiter, a_permit_dropped_without_outcome_releases_and_teaches_nothing) {
  std::vector<sample> samples;
  adaptive_limiter limiter{std::make_unique<recording_limit>(1, samples)};
  try {
    auto p = limiter.try_acquire(t0);
    ASSERT_TRUE(p);
    throw std::runtime_error("client went away");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(limiter.inflight(), 0u);

  auto a = limiter.try_acquire(t0);
  ASSERT_TRUE(a);
  adaptive_limiter::permit moved{std::move(*a)};
  a.reset();
  EXPECT_EQ(limiter.inflight(), 1u);
  auto b = std::move(moved);
  EXPECT_EQ(limiter.inflight(), 1u);
  b.complete(limit_outcome::success, t0 + 1ms);
  EXPECT_EQ(limiter.inflight(), 0u);
  EXPECT_EQ(samples.size(), 1u);
}

TEST(adaptive_limiter, with_aimd_the_limit_follows_load_and_drops) {
  aimd_config c = small_aimd();
  adaptive_limiter limiter{std::make_unique<aimd_limit>(c)};
  time_point now = t0;
  // Saturating load with quick answers: fill the limit, complete all, repeat.
  for (int round = 0; round < 20; ++round) {
    std::vector<adaptive_limiter::permit> calls;
    while (auto p = limiter.try_acquire(now)) calls.push_back(std::move(*p));
    EXPECT_EQ(calls.size(), limiter.limit());
    now += 5ms;
    for (auto& call : calls) call.complete(limit_outcome::success, now);
  }
  EXPECT_EQ(limiter.limit(), c.max_limit);
  // Overload: calls are dropped; the limit falls to its floor.
  for (int i = 0; i < 50; ++i) {
    auto p = limiter.try_acquire(now);
    ASSERT_TRUE(p);
    p->complete(limit_outcome::dropped, now + 2s);
  }
  EXPECT_EQ(limiter.limit(), c.min_limit);
}

TEST(adaptive_limiter, threads_never_exceed_the_limit_and_release_everything) {
  aimd_config c;
  c.initial_limit = 8;
  c.min_limit = 4;
  c.max_limit = 16;
  adaptive_limiter limiter{std::make_unique<aimd_limit>(c)};
  std::atomic<std::size_t> most{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 random{static_cast<std::uint64_t>(t)};
      for (int i = 0; i < 20'000; ++i) {
        auto p = limiter.try_acquire(t0);
        if (!p) continue;
        std::size_t seen = most.load();
        const std::size_t inflight = limiter.inflight();
        while (inflight > seen && !most.compare_exchange_weak(seen, inflight)) {
        }
        const auto outcome = static_cast<limit_outcome>(random() % 3);
        p->complete(outcome, t0 + duration{static_cast<std::int64_t>(random() % 2'000'000)});
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_LE(most.load(), c.max_limit);
  EXPECT_EQ(limiter.inflight(), 0u);
  EXPECT_GE(limiter.limit(), c.min_limit);
  EXPECT_LE(limiter.limit(), c.max_limit);
}

}  // namespace
}  // namespace bulwark::core
