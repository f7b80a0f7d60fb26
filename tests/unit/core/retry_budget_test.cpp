// Retry budget: the bound of retry_budget.h, checked against an independent
// model over random schedules (single thread: decision by decision; several
// threads: per phase), plus the sliding of the window by whole buckets.
#include "core/retry_budget.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <thread>
#include <vector>

#include "unit/core/test_time.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

using test::t0;

// The budget's window, recomputed from first principles: per-tick counts, and
// sums over the N ticks that end at a given tick.
class window_model {
 public:
  window_model(double ratio, double min_per_s, duration window, unsigned buckets)
      : ratio_(ratio),
        floor_(min_per_s * std::chrono::duration<double>(window).count()),
        width_(window.count() / buckets),
        buckets_(buckets) {}

  std::int64_t tick(time_point now) const { return now.time_since_epoch().count() / width_; }

  void add(std::int64_t tick, std::uint64_t requests, std::uint64_t retries) {
    counts_[tick].requests += requests;
    counts_[tick].retries += retries;
  }

  std::uint64_t requests(std::int64_t tick) const { return sum(tick).requests; }
  std::uint64_t retries(std::int64_t tick) const { return sum(tick).retries; }

  // The documented bound: ratio * requests + min_per_s * window.
  double bound(std::int64_t tick) const {
    return ratio_ * static_cast<double>(requests(tick)) + floor_;
  }

 private:
  struct counts {
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
  };

  counts sum(std::int64_t tick) const {
    counts total;
    for (auto it = counts_.lower_bound(tick - buckets_ + 1);
         it != counts_.end() && it->first <= tick; ++it) {
      total.requests += it->second.requests;
      total.retries += it->second.retries;
    }
    return total;
  }

  double ratio_;
  double floor_;
  std::int64_t width_;
  std::int64_t buckets_;
  std::map<std::int64_t, counts> counts_;
};

struct budget_case {
  double ratio;
  double min_per_s;
  duration window;
  unsigned buckets;
};

budget_case random_case(std::mt19937_64& random) {
  const double ratios[] = {0.0, 0.1, 0.2, 0.5, 1.0, 2.5};
  const double floors[] = {0.0, 0.05, 0.3, 1.0, 10.0};
  const duration windows[] = {1s, 3s, 10s, 2500ms};
  const unsigned buckets[] = {1, 3, 10, 16};
  auto pick = [&](const auto& options) { return options[random() % std::size(options)]; };
  return {pick(ratios), pick(floors), pick(windows), pick(buckets)};
}

// Mostly small steps, sometimes a jump past a bucket or past the whole window.
duration random_step(std::mt19937_64& random, duration window) {
  const auto choice = random() % 100;
  if (choice < 70) return duration{static_cast<std::int64_t>(random() % 5'000'000)};
  if (choice < 95) return duration{static_cast<std::int64_t>(random() % (window.count() / 4))};
  return duration{static_cast<std::int64_t>(random() % (window.count() * 2))};
}

TEST(retry_budget, admits_exactly_what_keeps_every_window_within_the_bound) {
  std::mt19937_64 random{424242};
  int admitted_total = 0;
  int refused_total = 0;
  for (int schedule = 0; schedule < 300; ++schedule) {
    const budget_case c = random_case(random);
    retry_budget budget{c.ratio, c.min_per_s, c.window, c.buckets};
    window_model model{c.ratio, c.min_per_s, c.window, c.buckets};
    const double request_share = 0.2 + 0.7 * static_cast<double>(random() % 100) / 100.0;
    time_point now = t0;
    for (int event = 0; event < 1'500; ++event) {
      now += random_step(random, c.window);
      const std::int64_t tick = model.tick(now);
      if (static_cast<double>(random() % 1000) < request_share * 1000) {
        budget.record_request(now);
        model.add(tick, 1, 0);
        continue;
      }
      const bool expected = static_cast<double>(model.retries(tick) + 1) <= model.bound(tick);
      const bool admitted = budget.try_acquire_retry(now);
      ASSERT_EQ(admitted, expected) << "schedule " << schedule << " event " << event;
      if (admitted) {
        model.add(tick, 0, 1);
        ASSERT_LE(static_cast<double>(model.retries(tick)), model.bound(tick));
      }
      ASSERT_EQ(budget.retries_in_window(now), model.retries(tick));
      ASSERT_EQ(budget.requests_in_window(now), model.requests(tick));
      (admitted ? admitted_total : refused_total)++;
    }
  }
  // Both answers occur, so the equality above compared real decisions.
  EXPECT_GT(admitted_total, 10'000);
  EXPECT_GT(refused_total, 10'000);
}

TEST(retry_budget, window_slides_by_whole_buckets) {
  // 10 s in 10 buckets of 1 s; 20% of requests, no floor.
  retry_budget budget{0.2, 0.0, 10s, 10};
  for (int i = 0; i < 10; ++i) budget.record_request(t0 + 100ms);
  EXPECT_TRUE(budget.try_acquire_retry(t0 + 500ms));
  EXPECT_TRUE(budget.try_acquire_retry(t0 + 9999ms));
  EXPECT_FALSE(budget.try_acquire_retry(t0 + 9999ms));  // 3 > 0.2 * 10
  // At t0 + 10 s the requests' bucket (and the first retry's) leave the window.
  EXPECT_EQ(budget.requests_in_window(t0 + 10s), 0u);
  EXPECT_EQ(budget.retries_in_window(t0 + 10s), 1u);
  EXPECT_FALSE(budget.try_acquire_retry(t0 + 10s));
}

TEST(retry_budget, the_floor_allows_min_per_s_times_window_without_requests) {
  retry_budget budget{0.2, 0.5, 10s};  // floor: 5 retries per window
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += budget.try_acquire_retry(t0 + i * 10ms) ? 1 : 0;
  EXPECT_EQ(admitted, 5);
  // A whole window later the floor is available again.
  EXPECT_TRUE(budget.try_acquire_retry(t0 + 11s));
}

TEST(retry_budget, a_call_stamped_before_the_window_cannot_take_a_retry) {
  retry_budget budget{1.0, 0.0, 10s, 10};
  for (int i = 0; i < 5; ++i) budget.record_request(t0 + 25s);
  EXPECT_TRUE(budget.try_acquire_retry(t0 + 25s));
  // Bucket 5 now belongs to tick 25; a retry stamped at tick 15 (a caller whose
  // clock lags by a whole window) finds a later tick there and is refused.
  EXPECT_FALSE(budget.try_acquire_retry(t0 + 15s));
  EXPECT_EQ(budget.retries_in_window(t0 + 25s), 1u);
}

// Several threads record and acquire at the same instant; phases move time on.
// Within a phase the decisions race, but the bound must hold for each phase's
// window once all its threads are done.
TEST(retry_budget, threads_racing_never_exceed_the_bound) {
  constexpr int threads = 4;
  constexpr int phases = 60;
  constexpr int ops_per_thread = 400;
  const budget_case c{0.25, 0.4, 10s, 10};
  retry_budget budget{c.ratio, c.min_per_s, c.window, c.buckets};
  window_model model{c.ratio, c.min_per_s, c.window, c.buckets};
  std::mt19937_64 schedule_random{5};
  time_point now = t0;
  std::uint64_t admitted_total = 0;

  for (int phase = 0; phase < phases; ++phase) {
    now += duration{static_cast<std::int64_t>(schedule_random() % 2'500'000'000)};
    std::vector<std::uint64_t> requests(threads, 0);
    std::vector<std::uint64_t> admitted(threads, 0);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t, seed = schedule_random()] {
        std::mt19937_64 random{seed};
        for (int op = 0; op < ops_per_thread; ++op) {
          if (random() % 3 != 0) {
            budget.record_request(now);
            ++requests[t];
          } else if (budget.try_acquire_retry(now)) {
            ++admitted[t];
          }
        }
      });
    }
    for (auto& w : workers) w.join();

    const std::int64_t tick = model.tick(now);
    for (int t = 0; t < threads; ++t) model.add(tick, requests[t], admitted[t]);
    ASSERT_LE(static_cast<double>(model.retries(tick)), model.bound(tick)) << "phase " << phase;
    ASSERT_EQ(budget.retries_in_window(now), model.retries(tick));
    ASSERT_EQ(budget.requests_in_window(now), model.requests(tick));
    for (auto a : admitted) admitted_total += a;
  }
  EXPECT_GT(admitted_total, 1000u);
}

// Each thread runs its own clock, so callers lag and lead each other across
// bucket boundaries (and the scheduler may run one thread far ahead). No exact
// per-window model applies; the check is a sanity bound with room for a window's
// retries drawing on its own and the previous window's requests. Mostly a
// workout for ThreadSanitizer.
TEST(retry_budget, threads_with_skewed_clocks_stay_within_the_total_bound) {
  constexpr int threads = 4;
  constexpr int ops_per_thread = 20'000;
  retry_budget budget{0.2, 1.0, 1s, 10};
  std::vector<std::uint64_t> requests(threads, 0);
  std::vector<std::uint64_t> admitted(threads, 0);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 random{static_cast<std::uint64_t>(t) + 100};
      time_point now = t0;
      for (int op = 0; op < ops_per_thread; ++op) {
        now += duration{static_cast<std::int64_t>(random() % 2'000'000)};  // ~20 s in all
        if (random() % 2 == 0) {
          budget.record_request(now);
          ++requests[t];
        } else if (budget.try_acquire_retry(now)) {
          ++admitted[t];
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  std::uint64_t total_requests = 0;
  std::uint64_t total_retries = 0;
  for (int t = 0; t < threads; ++t) {
    total_requests += requests[t];
    total_retries += admitted[t];
  }
  const double windows = 25;  // every thread ends near t0 + 20 s (mean step 1 ms)
  EXPECT_LE(static_cast<double>(total_retries), 2 * 0.2 * total_requests + 1.0 * windows);
  EXPECT_GT(total_retries, 0u);
}

}  // namespace
}  // namespace bulwark::core
