// GCRA, the Generic Cell Rate Algorithm (ITU-T I.371, "virtual scheduling"):
// `count` per `per` with a burst of `burst`.
//
// State: the theoretical arrival time (TAT), the instant at which the limiter
// would be idle again had every admitted request been spaced by exactly T
// (T = per / count, integer ns rounded up, see detail::checked_emission_interval).
// A request of cost c is admitted iff max(TAT, now) + c*T - burst*T <= now, and
// then TAT becomes max(TAT, now) + c*T. One integer is the whole state, which is
// why the cluster store keeps GCRA state in Redis as a single number.
//
// Guarantees (the same as token_bucket's, whose empty_at is TAT - burst*T):
// over any interval of length t the admitted cost is at most burst + t/T
// <= burst + rate*t, and a request is refused only if fewer than c units of
// quota have accrued.
//
// Overflow: TAT is only used after max(TAT, now), admitted TATs are <= now +
// burst*T, burst*T <= 2^62 and now < 2^62, so nothing leaves int64.
//
// Concurrency: a CAS loop on tat_ (relaxed; see token_bucket.h for why). Of two
// threads racing for the last unit, one CAS fails, re-reads the advanced TAT and
// is refused. Refusals do not write.
#pragma once

#include <algorithm>
#include <atomic>

#include "core/rate_limiter.h"

namespace bulwark::core {

class gcra final : public rate_limiter {
 public:
  explicit gcra(rate_limit_spec spec);

  rate_limit_decision try_acquire(time_point now, std::uint64_t cost = 1) override {
    const std::int64_t t = now.time_since_epoch().count();
    if (cost > spec_.burst) return refuse_oversized(t);
    const std::int64_t increment = static_cast<std::int64_t>(cost) * interval_;
    std::int64_t tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
      const std::int64_t start = std::max(tat, t);
      const std::int64_t new_tat = start + increment;
      const std::int64_t allow_at = new_tat - tolerance_;
      if (allow_at > t) return refused(t, start, allow_at);
      if (tat_.compare_exchange_weak(tat, new_tat, std::memory_order_relaxed)) {
        return admitted(t, new_tat);
      }
    }
  }

  rate_limit_decision peek(time_point now, std::uint64_t cost = 1) const override {
    const std::int64_t t = now.time_since_epoch().count();
    if (cost > spec_.burst) return refuse_oversized(t);
    const std::int64_t start = std::max(tat_.load(std::memory_order_relaxed), t);
    const std::int64_t new_tat = start + static_cast<std::int64_t>(cost) * interval_;
    const std::int64_t allow_at = new_tat - tolerance_;
    return allow_at > t ? refused(t, start, allow_at) : admitted(t, new_tat);
  }

  // Moves TAT back by cost * T. The admission left TAT >= at + cost*T, so the
  // clamp to `at` changes nothing then; it only keeps an idle limiter's TAT
  // (possibly int64 min) from underflowing.
  void refund(time_point at, std::uint64_t cost = 1) override {
    if (cost == 0 || cost > spec_.burst) return;
    const std::int64_t t = at.time_since_epoch().count();
    const std::int64_t give_back = static_cast<std::int64_t>(cost) * interval_;
    std::int64_t tat = tat_.load(std::memory_order_relaxed);
    while (!tat_.compare_exchange_weak(tat, std::max(tat, t) - give_back,
                                       std::memory_order_relaxed)) {
    }
  }

  std::uint64_t limit() const override { return spec_.burst; }
  const rate_limit_spec& spec() const override { return spec_; }

  // The theoretical arrival time (never earlier than `now`).
  time_point theoretical_arrival(time_point now) const;
  duration emission_interval() const { return duration{interval_}; }

 private:
  rate_limit_decision admitted(std::int64_t now, std::int64_t new_tat) const {
    return {true, whole_units(now + tolerance_ - new_tat), duration{0}, duration{new_tat - now}};
  }
  rate_limit_decision refused(std::int64_t now, std::int64_t start, std::int64_t allow_at) const {
    return {false, whole_units(now + tolerance_ - start), duration{allow_at - now},
            duration{start - now}};
  }
  rate_limit_decision refuse_oversized(std::int64_t now) const;
  std::uint64_t whole_units(std::int64_t span) const {
    return span <= 0 ? 0 : static_cast<std::uint64_t>(span / interval_);
  }

  rate_limit_spec spec_;
  std::int64_t interval_;   // T: ns per unit of quota
  std::int64_t tolerance_;  // burst * T: how far TAT may run ahead of now
  // Starts in the distant past: the limiter is idle (full quota).
  std::atomic<std::int64_t> tat_{std::numeric_limits<std::int64_t>::min()};
};

}  // namespace bulwark::core
