// The rate-limiter interface shared by token_bucket, gcra and sliding_window.
//
// A limiter answers "may this request of cost `cost` pass at `now`?" and, either
// way, the numbers the RateLimit / Retry-After headers need. Time is an argument:
// no limiter reads a clock. Every limiter is safe to call from many threads and
// takes no lock: its whole state is one 64-bit atomic updated by a CAS loop.
//
// The concrete classes are `final`, so code that holds a `token_bucket&` (the key
// table, the benchmark) gets a direct, inlinable call; the virtual interface is
// for code that picks the algorithm from configuration.
#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>

#include "core/clock.h"

namespace bulwark::core {

// `count` requests per `per`, with room for `burst` at once (5/min burst 5 is
// {5, 60s, 5}). The sliding window uses `count` per `per` and ignores `burst`.
struct rate_limit_spec {
  std::uint64_t count = 1;
  duration per = std::chrono::seconds{1};
  std::uint64_t burst = 1;
};

// retry_after of a request that can never pass: its cost exceeds the limiter's
// capacity (burst, or the window's count).
inline constexpr duration retry_never = duration::max();

struct rate_limit_decision {
  bool allowed = false;
  // Whole units of quota left after this decision.
  std::uint64_t remaining = 0;
  // Zero when allowed; otherwise the time after which the same request is
  // admitted if nothing else consumes quota meanwhile (retry_never if never).
  duration retry_after{0};
  // Time until the limiter is back to its full quota if nothing consumes it.
  duration reset_after{0};
};

class rate_limiter {
 public:
  virtual ~rate_limiter() = default;

  // Precondition: now.time_since_epoch() is in [0, 2^62 ns) (146 years), so the
  // nanosecond arithmetic below cannot overflow. Calls from several threads may
  // pass slightly different `now`s in any order; a late, older `now` can only
  // see less quota, never more.
  virtual rate_limit_decision try_acquire(time_point now, std::uint64_t cost = 1) = 0;

  // The decision try_acquire(now, cost) would make, taking nothing. With
  // refund(), this lets a caller hold a request to several limiters at once,
  // all or nothing: peek every one, then take from every one, and give back
  // what was taken if a later take loses a race (src/policy/ratelimit).
  virtual rate_limit_decision peek(time_point now, std::uint64_t cost = 1) const = 0;

  // Gives back `cost` that try_acquire(at, cost) admitted, passing the same
  // `at`. The limiter ends where it would be had that admission never
  // happened, except that quota never exceeds the limit (a refund to a limiter
  // that has refilled meanwhile is capped) and a sliding window forgets a
  // refund for a window it no longer counts. Lock-free, like try_acquire. A
  // refund that matches no admission gives quota away: callers refund only
  // what they took.
  virtual void refund(time_point at, std::uint64_t cost = 1) = 0;

  // The most that can pass at once: burst, or the window's count.
  virtual std::uint64_t limit() const = 0;
  virtual const rate_limit_spec& spec() const = 0;
};

namespace detail {

inline constexpr std::int64_t max_span_ns = std::int64_t{1} << 62;

// Time per unit of quota, in whole nanoseconds, rounded UP: exact whenever
// `count` divides `per` in nanoseconds (100/s, 5/min, 1000/h...); otherwise the
// limiter runs slower than configured by under 1 ns per unit (7/min gives
// 8'571'428'572 ns instead of 8'571'428'571.4), so it never admits more than
// the configured rate. Throws std::invalid_argument on a spec no limiter can
// honour; configuration validation rejects those earlier with a better message.
inline std::int64_t checked_emission_interval(const rate_limit_spec& spec) {
  if (spec.count == 0 || spec.per.count() <= 0 || spec.burst == 0) {
    throw std::invalid_argument("rate_limit_spec: count, per and burst must be positive");
  }
  const auto per = static_cast<std::uint64_t>(spec.per.count());
  const std::uint64_t interval = per / spec.count + (per % spec.count != 0 ? 1 : 0);
  if (spec.burst > static_cast<std::uint64_t>(max_span_ns) / interval) {
    throw std::invalid_argument("rate_limit_spec: burst x per/count exceeds 2^62 ns");
  }
  return static_cast<std::int64_t>(interval);
}

}  // namespace detail
}  // namespace bulwark::core
