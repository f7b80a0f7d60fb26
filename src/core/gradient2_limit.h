// Gradient2 concurrency limit, as Netflix's Gradient2Limit: the limit follows
// the ratio of a long-term average round trip (the latency without queueing) to
// the latest one. On each sample, with short = rtt:
//   long      exponential average of rtt: the plain mean of the first 10
//             samples (warm-up), then factor 2 / (long_window + 1);
//             when long / short > 2 (load has passed), long *= 0.95 so the
//             baseline recovers without waiting for the average;
//   if inflight < limit / 2: unchanged (app-limited: the limit is not what
//             bounds the load, so the sample says nothing about it);
//   gradient  = clamp(rtt_tolerance * long / short, 0.5, 1.0)
//   new       = limit * gradient + queue_size
//   limit     = clamp(limit * (1 - smoothing) + new * smoothing, min, max)
// The estimate is kept as a double; limit() publishes its integer part.
// As in Netflix's Gradient2Limit, `dropped` is not read: a dropped call teaches
// through its (long) round trip.
//
// Thread safety: on_sample takes a small mutex. The state (long-term average,
// warm-up sum and count, estimate) is several doubles that must change
// together; a lock-free version would need a copy-and-CAS of the whole state,
// which costs more than an uncontended lock. The lock is held for a few
// arithmetic operations, never across a call out, and only on the completion
// path; admission reads limit() with a relaxed load and never takes it
// (Netflix's AbstractLimit synchronizes onSample the same way).
#pragma once

#include <chrono>
#include <mutex>

#include "core/adaptive_limit.h"

namespace bulwark::core {

// Netflix's defaults.
struct gradient2_config {
  std::size_t initial_limit = 20;
  std::size_t min_limit = 20;
  std::size_t max_limit = 200;
  double smoothing = 0.2;      // in (0, 1]: share of the new estimate per sample
  std::size_t queue_size = 4;  // growth allowed per sample while latency holds
  std::size_t long_window = 600;
  double rtt_tolerance = 1.5;  // >= 1: latency growth accepted before shrinking
  friend bool operator==(const gradient2_config&, const gradient2_config&) = default;
};

class gradient2_limit final : public adaptive_limit {
 public:
  // Limits are normalized as in aimd_limit; smoothing is clamped into [0, 1]
  // and rtt_tolerance raised to at least 1.
  explicit gradient2_limit(const gradient2_config& config);

  void on_sample(time_point start, duration rtt, std::size_t inflight, bool dropped) override;

  // The long-term round trip, in nanoseconds (for metrics and tests).
  double long_rtt() const;

 private:
  static constexpr std::size_t warmup_samples = 10;

  double update_long_rtt(double rtt);

  gradient2_config config_;
  mutable std::mutex mutex_;
  double estimate_;
  double long_rtt_ = 0.0;
  double warmup_sum_ = 0.0;
  std::size_t samples_ = 0;
};

}  // namespace bulwark::core
