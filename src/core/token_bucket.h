// Token bucket: capacity `burst`, refilled continuously at `count` per `per`.
//
// Guarantee: over any interval of length t, the admitted cost is at most
// burst + rate * t; and a request is admitted whenever the bucket holds at least
// its cost (tokens are exact, not sampled: see the representation below).
//
// Representation. Instead of the pair (tokens, last refill) — two words that
// would need a lock or a 128-bit CAS — the bucket stores one instant, `empty_at_`:
// the moment at which the bucket was (or will be, once refilled that far) empty.
// Then tokens(now) = min(burst, (now - empty_at) / T), with T the emission
// interval (time per token, integer ns, see detail::checked_emission_interval).
// Taking c tokens moves empty_at forward by c * T. Every quantity is an integer
// number of nanoseconds, so there is no drift and no rounding between calls.
// Bounds: empty_at is clamped to >= now - burst*T before use, and burst*T <= 2^62,
// so with now < 2^62 every sum stays inside int64.
//
// Concurrency: a CAS loop on empty_at_. Two threads racing for the last token
// both read the same empty_at; only one CAS succeeds, the other re-reads the
// advanced value and finds the bucket empty. Refusals write nothing, so a
// flooded bucket is read-shared, not bounced between cores. memory_order_relaxed
// is enough: the atomic publishes no other data, and the RMWs on it are totally
// ordered by the coherence order of that one variable.
//
// This is the same admission rule as gcra (whose TAT is empty_at + burst*T);
// both exist because operators know both names. The token view is the natural one
// for "how many are left" and for leasing tokens in batches.
#pragma once

#include <algorithm>
#include <atomic>

#include "core/rate_limiter.h"

namespace bulwark::core {

class token_bucket final : public rate_limiter {
 public:
  explicit token_bucket(rate_limit_spec spec);

  rate_limit_decision try_acquire(time_point now, std::uint64_t cost = 1) override {
    const std::int64_t t = now.time_since_epoch().count();
    if (cost > spec_.burst) return refuse_oversized(t);
    const std::int64_t need = static_cast<std::int64_t>(cost) * interval_;
    std::int64_t empty_at = empty_at_.load(std::memory_order_relaxed);
    for (;;) {
      const std::int64_t base = std::max(empty_at, t - capacity_span_);
      const std::int64_t next = base + need;
      if (next > t) return refused(t, base, next);
      if (empty_at_.compare_exchange_weak(empty_at, next, std::memory_order_relaxed)) {
        return admitted(t, next);
      }
    }
  }

  rate_limit_decision peek(time_point now, std::uint64_t cost = 1) const override {
    const std::int64_t t = now.time_since_epoch().count();
    if (cost > spec_.burst) return refuse_oversized(t);
    const std::int64_t base = std::max(empty_at_.load(std::memory_order_relaxed), t - capacity_span_);
    const std::int64_t next = base + static_cast<std::int64_t>(cost) * interval_;
    return next > t ? refused(t, base, next) : admitted(t, next);
  }

  // Moves empty_at back by cost * T. The admission moved it to at least
  // at - burst*T + cost*T, so subtracting from the clamped value restores it
  // exactly; concurrent admissions commute with the subtraction. Bounds: the
  // result is >= at - 2*burst*T >= -2^63.
  void refund(time_point at, std::uint64_t cost = 1) override {
    if (cost == 0 || cost > spec_.burst) return;
    const std::int64_t t = at.time_since_epoch().count();
    const std::int64_t give_back = static_cast<std::int64_t>(cost) * interval_;
    std::int64_t empty_at = empty_at_.load(std::memory_order_relaxed);
    while (!empty_at_.compare_exchange_weak(empty_at,
                                            std::max(empty_at, t - capacity_span_) - give_back,
                                            std::memory_order_relaxed)) {
    }
  }

  std::uint64_t limit() const override { return spec_.burst; }
  const rate_limit_spec& spec() const override { return spec_; }

  // Whole tokens available at `now`, without taking any.
  std::uint64_t tokens(time_point now) const;
  duration emission_interval() const { return duration{interval_}; }

 private:
  rate_limit_decision admitted(std::int64_t now, std::int64_t empty_at) const {
    return {true, whole_tokens(now - empty_at), duration{0},
            duration{empty_at + capacity_span_ - now}};
  }
  rate_limit_decision refused(std::int64_t now, std::int64_t base, std::int64_t next) const {
    return {false, whole_tokens(now - base), duration{next - now},
            duration{base + capacity_span_ - now}};
  }
  rate_limit_decision refuse_oversized(std::int64_t now) const;
  std::uint64_t whole_tokens(std::int64_t span) const {
    return span <= 0 ? 0 : static_cast<std::uint64_t>(span / interval_);
  }

  rate_limit_spec spec_;
  std::int64_t interval_;       // T: ns per token
  std::int64_t capacity_span_;  // burst * T: time to refill from empty
  // Starts "empty long ago", i.e. full; clamped before any arithmetic.
  std::atomic<std::int64_t> empty_at_{std::numeric_limits<std::int64_t>::min()};
};

}  // namespace bulwark::core
