#include "core/backoff.h"

#include <algorithm>
#include <limits>

namespace bulwark::core {
namespace {

constexpr std::int64_t max_ticks = std::numeric_limits<std::int64_t>::max();

// lo + unit * (hi - lo), kept inside the closed range [lo, hi] whatever the
// draw: rounding of a huge span could otherwise land one tick past hi.
std::int64_t random_between(std::int64_t lo, std::int64_t hi, double unit) {
  if (!(unit > 0.0)) return lo;  // also catches NaN
  if (unit > 1.0) unit = 1.0;
  const auto span = static_cast<std::uint64_t>(hi - lo);  // hi >= lo >= 0: no overflow
  const double scaled = unit * static_cast<double>(span);
  // scaled <= double(span) <= 2^63 < 2^64, so the conversion is defined; the
  // min() takes back a rounding up past span.
  const auto offset = std::min(static_cast<std::uint64_t>(scaled), span);
  return lo + static_cast<std::int64_t>(offset);
}

std::int64_t saturating_triple(std::int64_t ticks) {
  return ticks > max_ticks / 3 ? max_ticks : ticks * 3;
}

}  // namespace

backoff::backoff(duration base, duration cap, jitter kind)
    : base_(std::max(duration::zero(), base)), cap_(std::max(duration::zero(), cap)), kind_(kind) {
  base_ = std::min(base_, cap_);
}

duration backoff::ceiling(unsigned attempt) const {
  const std::int64_t base = base_.count();
  const std::int64_t cap = cap_.count();
  // base <= cap >> attempt  <=>  base << attempt <= cap (for base >= 0), and the
  // shift is then bounded by cap, so it cannot overflow.
  if (attempt >= 63 || base > (cap >> attempt)) return cap_;
  return duration{base << attempt};
}

duration backoff::delay_for_draw(unsigned attempt, duration previous, double unit) const {
  switch (kind_) {
    case jitter::none:
      return ceiling(attempt);
    case jitter::full:
      return duration{random_between(0, ceiling(attempt).count(), unit)};
    case jitter::equal: {
      const std::int64_t temp = ceiling(attempt).count();
      const std::int64_t half = temp / 2;
      return duration{half + random_between(0, half, unit)};
    }
    case jitter::decorrelated: {
      const std::int64_t base = base_.count();
      const std::int64_t last = std::max(previous.count(), base);
      const std::int64_t drawn = random_between(base, saturating_triple(last), unit);
      return duration{std::min(cap_.count(), drawn)};
    }
  }
  return ceiling(attempt);
}

}  // namespace bulwark::core
