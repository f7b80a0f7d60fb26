#include "core/retry_budget.h"

#include <algorithm>

namespace bulwark::core {
namespace {

// A bucket word: [tick tag : 40 bits | count : 24 bits].
constexpr unsigned count_bits = 24;
constexpr std::uint64_t count_mask = (std::uint64_t{1} << count_bits) - 1;
constexpr std::uint64_t tag_mask = (std::uint64_t{1} << (64 - count_bits)) - 1;

constexpr std::uint64_t tag_of(std::uint64_t word) {
  return word >> count_bits;
}
constexpr std::uint64_t count_of(std::uint64_t word) {
  return word & count_mask;
}
constexpr std::uint64_t pack(std::uint64_t tag, std::uint64_t count) {
  return (tag << count_bits) | count;
}

// tick - tag in the 40-bit ring of tags, as a signed number: positive when the
// word was written at an earlier tick, negative when at a later one.
std::int64_t age(std::uint64_t tag, std::uint64_t tick) {
  const std::uint64_t diff = (tick - tag) & tag_mask;
  constexpr std::uint64_t half = (tag_mask + 1) / 2;
  return diff < half ? static_cast<std::int64_t>(diff)
                     : static_cast<std::int64_t>(diff) - static_cast<std::int64_t>(tag_mask + 1);
}

// Counts one event at `tick`; false when the word holds a later tick (the event
// is too late for this bucket) or its count is saturated.
bool count_event(std::atomic<std::uint64_t>& word, std::uint64_t tick) {
  const std::uint64_t tag = tick & tag_mask;
  std::uint64_t current = word.load(std::memory_order_relaxed);
  for (;;) {
    std::uint64_t next;
    if (tag_of(current) == tag) {
      if (count_of(current) == count_mask) return false;
      next = current + 1;
    } else if (count_of(current) == 0 || age(tag_of(current), tag) > 0) {
      next = pack(tag, 1);
    } else {
      return false;
    }
    if (word.compare_exchange_weak(current, next, std::memory_order_relaxed)) return true;
  }
}

// Takes back one event counted by count_event at `tick`, unless the bucket has
// moved on to another tick meanwhile (then the count is already gone).
void uncount_event(std::atomic<std::uint64_t>& word, std::uint64_t tick) {
  const std::uint64_t tag = tick & tag_mask;
  std::uint64_t current = word.load(std::memory_order_relaxed);
  while (tag_of(current) == tag && count_of(current) > 0) {
    if (word.compare_exchange_weak(current, current - 1, std::memory_order_relaxed)) return;
  }
}

}  // namespace

retry_budget::retry_budget(double ratio, double min_per_s, duration window, unsigned buckets)
    : ratio_(std::max(0.0, ratio)), bucket_count_(std::max(1u, buckets)) {
  const std::int64_t window_ns = std::max<std::int64_t>(window.count(), bucket_count_);
  bucket_width_ = window_ns / bucket_count_;
  const double window_s = std::chrono::duration<double>(window).count();
  floor_ = std::max(0.0, min_per_s) * std::max(0.0, window_s);
  buckets_ = std::make_unique<bucket[]>(bucket_count_);
}

std::uint64_t retry_budget::tick_of(time_point now) const {
  const std::int64_t t = std::max<std::int64_t>(0, now.time_since_epoch().count());
  return static_cast<std::uint64_t>(t / bucket_width_);
}

retry_budget::bucket& retry_budget::bucket_for(std::uint64_t tick) const {
  return buckets_[tick % bucket_count_];
}

retry_budget::window_counts retry_budget::sum_window(std::uint64_t tick) const {
  const auto n = static_cast<std::int64_t>(bucket_count_);
  window_counts sum;
  for (unsigned i = 0; i < bucket_count_; ++i) {
    const std::uint64_t requests = buckets_[i].requests.load(std::memory_order_relaxed);
    const std::uint64_t retries = buckets_[i].retries.load(std::memory_order_relaxed);
    const std::int64_t request_age = age(tag_of(requests), tick);
    const std::int64_t retry_age = age(tag_of(retries), tick);
    if (request_age >= 0 && request_age < n) sum.requests += count_of(requests);
    // Retries from a later tick (another caller's clock is ahead) count too.
    if (retry_age > -n && retry_age < n) sum.retries += count_of(retries);
  }
  return sum;
}

void retry_budget::record_request(time_point now) {
  const std::uint64_t tick = tick_of(now);
  count_event(bucket_for(tick).requests, tick);
}

bool retry_budget::fits(window_counts counts) const {
  return static_cast<double>(counts.retries) <= allowance(counts.requests);
}

bool retry_budget::try_acquire_retry(time_point now) {
  const std::uint64_t tick = tick_of(now);
  window_counts before = sum_window(tick);
  ++before.retries;
  // Read-only refusal first: in a retry storm most attempts are refused, and
  // they then leave the shared counters alone instead of bouncing them between
  // cores with a count and an uncount.
  if (!fits(before)) return false;
  auto& retries = bucket_for(tick).retries;
  if (!count_event(retries, tick)) return false;
  if (fits(sum_window(tick))) return true;
  uncount_event(retries, tick);
  return false;
}

std::uint64_t retry_budget::requests_in_window(time_point now) const {
  return sum_window(tick_of(now)).requests;
}

std::uint64_t retry_budget::retries_in_window(time_point now) const {
  return sum_window(tick_of(now)).retries;
}

double retry_budget::allowance(std::uint64_t requests) const {
  return ratio_ * static_cast<double>(requests) + floor_;
}

}  // namespace bulwark::core
