#include "core/outlier_detector.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace bulwark::core {

namespace {

// The endpoint word: [ejected_until_ms: 48 | failures: 16].
constexpr unsigned count_bits = 16;
constexpr std::uint64_t count_mask = (std::uint64_t{1} << count_bits) - 1;
constexpr std::uint32_t max_threshold = static_cast<std::uint32_t>(count_mask);
// Deadlines are kept where milliseconds still convert to nanoseconds without
// overflow (year 2262 of the steady clock), well inside the 48 bits.
constexpr std::int64_t max_until_ms = std::numeric_limits<std::int64_t>::max() / 1'000'000;

constexpr std::uint32_t failures_of(std::uint64_t word) { return static_cast<std::uint32_t>(word & count_mask); }
constexpr std::int64_t until_of(std::uint64_t word) { return static_cast<std::int64_t>(word >> count_bits); }
constexpr std::uint64_t make_word(std::int64_t until_ms, std::uint32_t failures) {
  return (static_cast<std::uint64_t>(until_ms) << count_bits) | failures;
}

std::int64_t floor_ms(time_point t) {
  return std::chrono::floor<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// now + eject_for in whole milliseconds, rounded up (an ejection lasts at
// least eject_for), at least 1 (0 means "not ejected"), saturating.
std::int64_t deadline_ms(time_point now, duration eject_for) {
  const auto now_ns = now.time_since_epoch().count();
  const auto add = eject_for.count();
  std::int64_t until_ns = 0;
  if (__builtin_add_overflow(now_ns, add, &until_ns)) until_ns = std::numeric_limits<std::int64_t>::max();
  const std::int64_t ms = until_ns / 1'000'000 + (until_ns % 1'000'000 > 0 ? 1 : 0);
  return std::clamp<std::int64_t>(ms, 1, max_until_ms);
}

// A word's ejection is in force at `now`.
bool in_force(std::uint64_t word, time_point now) {
  const auto until = until_of(word);
  return until != 0 && floor_ms(now) < until;
}

// A word still holds a slot for an ejection that is over.
bool expired(std::uint64_t word, time_point now) {
  const auto until = until_of(word);
  return until != 0 && floor_ms(now) >= until;
}

std::size_t compute_cap(std::size_t endpoints, double share) {
  if (!(share > 0) || endpoints == 0) return 0;  // also NaN
  share = std::min(share, 1.0);
  const auto cap = static_cast<std::size_t>(std::floor(share * static_cast<double>(endpoints)));
  return std::clamp<std::size_t>(cap, 1, endpoints);
}

}  // namespace

outlier_detector::outlier_detector(std::size_t endpoint_count, const outlier_settings& settings)
    : size_(endpoint_count),
      threshold_(std::clamp<std::uint32_t>(settings.consecutive_failures, 1, max_threshold)),
      eject_for_(std::max(settings.eject_for, duration::zero())),
      cap_(compute_cap(endpoint_count, settings.max_ejected)),
      words_(std::make_unique<std::atomic<std::uint64_t>[]>(endpoint_count)) {
  for (std::size_t i = 0; i < size_; ++i) words_[i].store(0, std::memory_order_relaxed);
}

bool outlier_detector::release_if_expired(std::size_t endpoint, time_point now) {
  auto& word = words_[endpoint];
  std::uint64_t current = word.load(std::memory_order_acquire);
  while (expired(current, now)) {
    if (word.compare_exchange_weak(current, make_word(0, 0), std::memory_order_acq_rel,
                                   std::memory_order_acquire)) {
      // After the word: slots_ never drops below the endpoints marked ejected.
      slots_.fetch_sub(1, std::memory_order_acq_rel);
      return true;
    }
  }
  return false;
}

bool outlier_detector::reserve_slot(time_point now) {
  for (int pass = 0; pass < 2; ++pass) {
    std::size_t held = slots_.load(std::memory_order_acquire);
    while (held < cap_) {
      if (slots_.compare_exchange_weak(held, held + 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return true;
      }
    }
    if (pass == 1) break;
    // Full: ejections that are over may still hold their slots (expiry is lazy).
    bool freed = false;
    for (std::size_t i = 0; i < size_; ++i) freed = release_if_expired(i, now) || freed;
    if (!freed) break;
  }
  return false;
}

outlier_event outlier_detector::record(std::size_t endpoint, bool failure, time_point now) {
  if (endpoint >= size_) return outlier_event::none;
  auto& word = words_[endpoint];
  std::uint64_t current = word.load(std::memory_order_acquire);
  if (!failure && current == 0) return outlier_event::none;  // the hot path: nothing to write

  for (;;) {
    if (in_force(current, now)) return outlier_event::none;  // late outcome of an ejected endpoint
    if (expired(current, now)) {
      release_if_expired(endpoint, now);
      current = word.load(std::memory_order_acquire);
      continue;
    }
    // Counting (until == 0).
    if (!failure) {
      if (failures_of(current) == 0) return outlier_event::none;
      if (word.compare_exchange_weak(current, make_word(0, 0), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        return outlier_event::none;
      }
      continue;
    }
    const std::uint32_t failures = std::min(failures_of(current) + 1, threshold_);
    if (failures < threshold_) {
      if (word.compare_exchange_weak(current, make_word(0, failures), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        return outlier_event::none;
      }
      continue;
    }
    if (!reserve_slot(now)) {
      // Over the cap: keep the count at the threshold so the next failure tries again.
      if (word.compare_exchange_weak(current, make_word(0, failures), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        skipped_.fetch_add(1, std::memory_order_relaxed);
        return outlier_event::ejection_skipped;
      }
      continue;
    }
    if (word.compare_exchange_strong(current, make_word(deadline_ms(now, eject_for_), 0),
                                     std::memory_order_acq_rel, std::memory_order_acquire)) {
      ejections_.fetch_add(1, std::memory_order_relaxed);
      return outlier_event::ejected;
    }
    slots_.fetch_sub(1, std::memory_order_acq_rel);  // lost the race for the word: retry
  }
}

bool outlier_detector::ejected(std::size_t endpoint, time_point now) const {
  if (endpoint >= size_) return false;
  return in_force(words_[endpoint].load(std::memory_order_relaxed), now);
}

duration outlier_detector::ejected_for(std::size_t endpoint, time_point now) const {
  if (endpoint >= size_) return duration::zero();
  const auto word = words_[endpoint].load(std::memory_order_relaxed);
  if (!in_force(word, now)) return duration::zero();
  return std::chrono::milliseconds(until_of(word)) - now.time_since_epoch();
}

std::uint32_t outlier_detector::consecutive_failures(std::size_t endpoint) const {
  if (endpoint >= size_) return 0;
  return failures_of(words_[endpoint].load(std::memory_order_relaxed));
}

std::size_t outlier_detector::ejected_count(time_point now) const {
  std::size_t count = 0;
  for (std::size_t i = 0; i < size_; ++i) {
    if (in_force(words_[i].load(std::memory_order_relaxed), now)) ++count;
  }
  return count;
}

}  // namespace bulwark::core
