// Exponential backoff with jitter, as defined in the AWS Architecture Blog post
// "Exponential Backoff And Jitter" (Marc Brooker). With ceiling(n) =
// min(cap, base * 2^n):
//   none          ceiling(n)
//   full          random_between(0, ceiling(n))
//   equal         ceiling(n)/2 + random_between(0, ceiling(n)/2)
//   decorrelated  min(cap, random_between(base, previous * 3))
// random_between(lo, hi) is uniform over the closed range [lo, hi] (to the
// nanosecond). Decorrelated jitter is stateful: the caller carries the delay it
// slept last time (zero before the first retry, which then counts as `base`, as
// in the post's reference code), so one `backoff` serves every request at once
// and holds no mutable state.
//
// The random source is injected: either a std::uniform_random_bit_generator
// (std::mt19937_64, ...) or any callable returning a double in [0, 1). Draws
// outside [0, 1) (or NaN) are clamped, so a bad source cannot push a delay
// outside its bounds.
//
// Overflow: base * 2^n saturates at cap for every n (attempt 1000 is fine), and
// previous * 3 saturates at the largest duration.
#pragma once

#include <concepts>
#include <cstdint>
#include <random>
#include <type_traits>

#include "core/clock.h"

namespace bulwark::core {

enum class jitter : std::uint8_t { none, full, equal, decorrelated };

template <class Random>
concept unit_random = requires(Random& random) {
  { random() } -> std::convertible_to<double>;
};

template <class Random>
concept backoff_random =
    std::uniform_random_bit_generator<std::remove_reference_t<Random>> || unit_random<Random>;

class backoff {
 public:
  // Negative values count as zero, and base is clamped to cap, so every delay
  // lies in [0, cap] whatever the configuration (validation belongs to config).
  backoff(duration base, duration cap, jitter kind);

  // `attempt` counts retries from 0 (the first retry). `previous` is the delay
  // returned for the previous retry of the same request (zero for the first);
  // only decorrelated jitter reads it.
  template <backoff_random Random>
  duration next_delay(unsigned attempt, duration previous, Random& random) const {
    return delay_for_draw(attempt, previous, draw_unit(random));
  }

  // min(cap, base * 2^attempt), without overflow.
  duration ceiling(unsigned attempt) const;

  duration base() const { return base_; }
  duration cap() const { return cap_; }
  jitter kind() const { return kind_; }

 private:
  template <class Random>
  static double draw_unit(Random& random) {
    if constexpr (std::uniform_random_bit_generator<std::remove_reference_t<Random>>) {
      // generate_canonical may return exactly 1.0 (LWG 2524); delay_for_draw
      // clamps, which keeps the bound closed at the top.
      return std::generate_canonical<double, 53>(random);
    } else {
      return static_cast<double>(random());
    }
  }

  // The deterministic half of next_delay: maps one uniform draw to a delay.
  duration delay_for_draw(unsigned attempt, duration previous, double unit) const;

  duration base_;
  duration cap_;
  jitter kind_;
};

}  // namespace bulwark::core
