// Backoff: every delay stays inside the bounds of its jitter kind, as defined by
// the AWS "Exponential Backoff And Jitter" post, for every attempt 0..64, and
// the bounds are computed here independently of backoff::ceiling() (in 128-bit
// arithmetic) so an overflow in the implementation would show.
#include "core/backoff.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

constexpr jitter all_kinds[] = {jitter::none, jitter::full, jitter::equal, jitter::decorrelated};

// min(cap, base * 2^attempt) without any shortcut.
std::int64_t expected_ceiling(duration base, duration cap, unsigned attempt) {
  __int128 value = base.count();
  for (unsigned i = 0; i < attempt && value <= cap.count(); ++i) value *= 2;
  return static_cast<std::int64_t>(std::min<__int128>(value, cap.count()));
}

struct range {
  std::int64_t lo;
  std::int64_t hi;
};

range expected_bounds(const backoff& b, unsigned attempt, duration previous) {
  const std::int64_t temp = expected_ceiling(b.base(), b.cap(), attempt);
  switch (b.kind()) {
    case jitter::none:
      return {temp, temp};
    case jitter::full:
      return {0, temp};
    case jitter::equal:
      return {temp / 2, temp / 2 + temp / 2};
    case jitter::decorrelated: {
      // Before the first retry the previous sleep counts as base (AWS's code
      // starts with sleep = base).
      const __int128 upper = __int128{std::max(previous, b.base()).count()} * 3;
      return {std::min(b.base().count(), b.cap().count()),
              static_cast<std::int64_t>(std::min<__int128>(upper, b.cap().count()))};
    }
  }
  return {0, 0};
}

struct config_case {
  duration base;
  duration cap;
};

const config_case configs[] = {
    {100ms, 2s},
    {1ns, 1ns},
    {3ns, 1000ns},
    {1ms, 10min},
    {7s, 5s},  // base above cap: clamped to cap
    {duration{std::numeric_limits<std::int64_t>::max() / 2}, duration::max()},
};

TEST(backoff, every_delay_stays_inside_its_jitter_bounds) {
  std::mt19937_64 random{20240611};
  for (const auto& config : configs) {
    for (const jitter kind : all_kinds) {
      const backoff b{config.base, config.cap, kind};
      for (unsigned attempt = 0; attempt <= 64; ++attempt) {
        duration previous = 0ns;
        for (int draw = 0; draw < 200; ++draw) {
          const auto [lo, hi] = expected_bounds(b, attempt, previous);
          const duration delay = b.next_delay(attempt, previous, random);
          ASSERT_GE(delay.count(), lo) << "kind " << int(kind) << " attempt " << attempt;
          ASSERT_LE(delay.count(), hi) << "kind " << int(kind) << " attempt " << attempt;
          previous = delay;
        }
      }
    }
  }
}

TEST(backoff, ceiling_doubles_then_saturates_at_cap_without_overflow) {
  const backoff b{100ms, 2s, jitter::none};
  EXPECT_EQ(b.ceiling(0), 100ms);
  EXPECT_EQ(b.ceiling(1), 200ms);
  EXPECT_EQ(b.ceiling(4), 1600ms);
  EXPECT_EQ(b.ceiling(5), 2s);
  EXPECT_EQ(b.ceiling(63), 2s);
  EXPECT_EQ(b.ceiling(64), 2s);
  EXPECT_EQ(b.ceiling(1'000'000), 2s);

  const backoff huge{1ns, duration::max(), jitter::none};
  EXPECT_EQ(huge.ceiling(62), duration{std::int64_t{1} << 62});
  EXPECT_EQ(huge.ceiling(63), duration::max());
}

TEST(backoff, draws_map_onto_the_ends_of_each_range) {
  auto zero = [] { return 0.0; };
  auto almost_one = [] { return std::nextafter(1.0, 0.0); };
  const duration ceiling = 800ms;  // attempt 3 of 100ms

  const backoff full{100ms, 10s, jitter::full};
  EXPECT_EQ(full.next_delay(3, 0ns, zero), 0ns);
  EXPECT_NEAR(full.next_delay(3, 0ns, almost_one).count(), ceiling.count(), 1);

  const backoff equal{100ms, 10s, jitter::equal};
  EXPECT_EQ(equal.next_delay(3, 0ns, zero), 400ms);
  EXPECT_NEAR(equal.next_delay(3, 0ns, almost_one).count(), ceiling.count(), 1);

  const backoff decorrelated{100ms, 10s, jitter::decorrelated};
  EXPECT_EQ(decorrelated.next_delay(0, 0ns, zero), 100ms);
  EXPECT_NEAR(decorrelated.next_delay(0, 1s, almost_one).count(), duration{3s}.count(), 1);
  EXPECT_EQ(decorrelated.next_delay(0, 5s, almost_one), 10s);  // 15s capped
}

TEST(backoff, a_misbehaving_random_source_cannot_leave_the_bounds) {
  const backoff b{100ms, 1s, jitter::full};
  auto above = [] { return 7.5; };
  auto below = [] { return -3.0; };
  auto nan = [] { return std::numeric_limits<double>::quiet_NaN(); };
  EXPECT_EQ(b.next_delay(2, 0ns, above), 400ms);
  EXPECT_EQ(b.next_delay(2, 0ns, below), 0ns);
  EXPECT_EQ(b.next_delay(2, 0ns, nan), 0ns);
}

TEST(backoff, decorrelated_is_bounded_by_base_and_cap_along_a_chain) {
  std::mt19937_64 random{7};
  const backoff b{50ms, 3s, jitter::decorrelated};
  duration previous = 0ns;
  duration longest = 0ns;
  for (unsigned attempt = 0; attempt < 10'000; ++attempt) {
    previous = b.next_delay(attempt, previous, random);
    ASSERT_GE(previous, 50ms);
    ASSERT_LE(previous, 3s);
    longest = std::max(longest, previous);
  }
  // It does climb: with 10k draws the chain reaches the cap's neighbourhood.
  EXPECT_GT(longest, 2s);
}

TEST(backoff, full_jitter_spreads_over_its_range) {
  // Not a timing test: the mean of many draws sits near half the ceiling, which
  // a constant or a biased mapping would miss.
  std::mt19937_64 random{99};
  const backoff b{1ms, 1s, jitter::full};
  double sum = 0;
  constexpr int draws = 20'000;
  for (int i = 0; i < draws; ++i) sum += static_cast<double>(b.next_delay(6, 0ns, random).count());
  const double mean = sum / draws;
  EXPECT_NEAR(mean, 32e6, 32e6 * 0.03);  // ceiling(6) = 64ms
}

}  // namespace
}  // namespace bulwark::core
