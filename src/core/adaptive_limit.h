// Adaptive concurrency limits, with the semantics of Netflix's
// concurrency-limits library: a limit algorithm learns from samples
// `on_sample(start, rtt, inflight, dropped)` (their `Limit.onSample`), and a
// limiter admits calls while fewer than `limit()` are in flight
// (their `SimpleLimiter`). The algorithms are aimd_limit and gradient2_limit.
//
// limit() is read on every admission, so it is a relaxed atomic load; only
// on_sample, called once per completed call, does the arithmetic.
//
// adaptive_limiter::permit is an RAII guard like bulkhead::permit. Its outcome
// (a closed set, as in Netflix's Listener) decides what the algorithm learns:
//   success  the call completed: a sample with its round trip;
//   dropped  the call timed out or was rejected downstream (overload): a sample
//            flagged dropped;
//   ignored  the call failed before a meaningful round trip (connect refused,
//            client gone): no sample, only the slot is released.
// A permit destroyed without an outcome counts as ignored, so the slot comes
// back on every path without teaching the limit anything false. As in Netflix,
// a sample carries the in-flight count seen at acquisition, this call included.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/clock.h"

namespace bulwark::core {

class adaptive_limit {
 public:
  virtual ~adaptive_limit() = default;

  // Safe to call from many threads at once.
  virtual void on_sample(time_point start, duration rtt, std::size_t inflight, bool dropped) = 0;

  std::size_t limit() const { return limit_.load(std::memory_order_relaxed); }

 protected:
  explicit adaptive_limit(std::size_t initial) : limit_(initial) {}

  // Relaxed: the limit is a hint read on its own, and guards no other data.
  std::atomic<std::size_t> limit_;
};

enum class limit_outcome : std::uint8_t { success, dropped, ignored };

class adaptive_limiter {
 public:
  class permit {
   public:
    permit(permit&& other) noexcept;
    permit& operator=(permit&& other) noexcept;
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { complete(limit_outcome::ignored, start_); }

    // Releases the slot and, unless ignored, feeds the algorithm a sample with
    // rtt = now - start. Later calls do nothing.
    void complete(limit_outcome outcome, time_point now);

   private:
    friend class adaptive_limiter;
    permit(adaptive_limiter* owner, time_point start, std::size_t inflight)
        : owner_(owner), start_(start), inflight_(inflight) {}

    adaptive_limiter* owner_;
    time_point start_;
    std::size_t inflight_;  // in flight at acquisition, this call included
  };

  explicit adaptive_limiter(std::unique_ptr<adaptive_limit> algorithm)
      : algorithm_(std::move(algorithm)) {}
  adaptive_limiter(const adaptive_limiter&) = delete;
  adaptive_limiter& operator=(const adaptive_limiter&) = delete;

  // Admits while inflight < limit; a CAS loop, so inflight never exceeds the
  // limit read at that moment. When the limit falls below inflight, calls
  // already admitted finish; new ones wait for inflight to drop under it.
  std::optional<permit> try_acquire(time_point now) {
    std::size_t current = inflight_.load(std::memory_order_relaxed);
    do {
      if (current >= algorithm_->limit()) return std::nullopt;
    } while (!inflight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return permit{this, now, current + 1};
  }

  std::size_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  std::size_t limit() const { return algorithm_->limit(); }
  const adaptive_limit& algorithm() const { return *algorithm_; }

 private:
  std::unique_ptr<adaptive_limit> algorithm_;
  std::atomic<std::size_t> inflight_{0};
};

}  // namespace bulwark::core
