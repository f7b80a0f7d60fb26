// sliding_window: the two-window estimate, one packed atomic word (see the header).
#include "core/sliding_window.h"

#include <algorithm>
#include <bit>

namespace bulwark::core {
namespace {

using wide = unsigned __int128;  // products of a count (< 2^20) and a span (< 2^62)

}  // namespace

sliding_window::sliding_window(rate_limit_spec spec) : spec_(spec), per_(spec.per.count()) {
  if (spec.count == 0 || spec.count > max_count) {
    throw std::invalid_argument("sliding_window: count must be in [1, 2^20)");
  }
  if (per_ <= 0 || per_ >= detail::max_span_ns) {
    throw std::invalid_argument("sliding_window: per must be in (0, 2^62 ns)");
  }
  count_bits_ = static_cast<unsigned>(std::bit_width(spec.count));
  count_mask_ = (std::uint64_t{1} << count_bits_) - 1;
  epoch_mask_ = (std::uint64_t{1} << (64 - 2 * count_bits_)) - 1;
}

rate_limit_decision sliding_window::try_acquire(time_point now, std::uint64_t cost) {
  const std::int64_t t = now.time_since_epoch().count();
  const std::int64_t now_epoch = t / per_;
  std::uint64_t word = state_.load(std::memory_order_relaxed);
  for (;;) {
    counts c = view_at(word, now_epoch);
    const std::int64_t elapsed = t - c.epoch * per_;  // < 0 only for a late, older `now`
    if (cost > spec_.count || !fits(c, elapsed, cost)) return decide(c, elapsed, false, cost);
    c.curr += cost;
    if (state_.compare_exchange_weak(word, pack(c), std::memory_order_relaxed)) {
      return decide(c, elapsed, true, cost);
    }
  }
}

rate_limit_decision sliding_window::peek(time_point now, std::uint64_t cost) const {
  const std::int64_t t = now.time_since_epoch().count();
  counts c = view_at(state_.load(std::memory_order_relaxed), t / per_);
  const std::int64_t elapsed = t - c.epoch * per_;
  const bool allowed = cost <= spec_.count && fits(c, elapsed, cost);
  if (allowed) c.curr += cost;  // report what try_acquire would leave
  return decide(c, elapsed, allowed, cost);
}

void sliding_window::refund(time_point at, std::uint64_t cost) {
  const auto at_epoch = static_cast<std::uint64_t>(at.time_since_epoch().count() / per_);
  std::uint64_t word = state_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t stored = word >> (2 * count_bits_);
    std::uint64_t prev = (word >> count_bits_) & count_mask_;
    std::uint64_t curr = word & count_mask_;
    // The stored epoch never moves backwards, so it is the admission's window
    // or a later one. (An admission made with a `now` one window late was
    // counted in the stored, later window; its refund then lands in prev,
    // whose weight is below 1: it gives back less than was taken, never more.)
    const std::uint64_t later_by = (stored - at_epoch) & epoch_mask_;
    if (later_by == 0) {
      curr -= std::min(cost, curr);
    } else if (later_by == 1) {
      prev -= std::min(cost, prev);
    } else {
      return;  // that window no longer counts
    }
    const std::uint64_t next = (stored << (2 * count_bits_)) | (prev << count_bits_) | curr;
    if (state_.compare_exchange_weak(word, next, std::memory_order_relaxed)) return;
  }
}

sliding_window::counts sliding_window::view_at(std::uint64_t word, std::int64_t now_epoch) const {
  const std::uint64_t stored = word >> (2 * count_bits_);
  const std::uint64_t prev = (word >> count_bits_) & count_mask_;
  const std::uint64_t curr = word & count_mask_;
  const std::uint64_t behind = (static_cast<std::uint64_t>(now_epoch) - stored) & epoch_mask_;
  if (behind == 0) return {now_epoch, prev, curr};
  if (behind == 1) return {now_epoch, curr, 0};
  if (behind == epoch_mask_) return {now_epoch + 1, prev, curr};  // stored is one window ahead
  return {now_epoch, 0, 0};
}

std::uint64_t sliding_window::pack(const counts& c) const {
  const std::uint64_t epoch = static_cast<std::uint64_t>(c.epoch) & epoch_mask_;
  return (epoch << (2 * count_bits_)) | (c.prev << count_bits_) | c.curr;
}

// prev * (per - elapsed) / per + curr + cost <= count, multiplied through by per.
// A negative elapsed (older `now`) weighs the previous window fully.
bool sliding_window::fits(const counts& c, std::int64_t elapsed, std::uint64_t cost) const {
  const auto weight = static_cast<std::uint64_t>(per_ - std::max<std::int64_t>(elapsed, 0));
  const auto per = static_cast<std::uint64_t>(per_);
  return wide{c.prev} * weight + wide{c.curr + cost} * per <= wide{spec_.count} * per;
}

rate_limit_decision sliding_window::decide(const counts& c, std::int64_t elapsed, bool allowed,
                                           std::uint64_t cost) const {
  const auto weight = static_cast<std::uint64_t>(per_ - std::max<std::int64_t>(elapsed, 0));
  const auto per = static_cast<std::uint64_t>(per_);
  const wide used = wide{c.prev} * weight + wide{c.curr} * per;
  const wide quota = wide{spec_.count} * per;
  rate_limit_decision d;
  d.allowed = allowed;
  d.remaining = used >= quota ? 0 : static_cast<std::uint64_t>((quota - used) / per);
  d.retry_after = allowed ? duration{0} : retry_after(c, elapsed, cost);
  // The current window's cost stops counting at the end of the next window,
  // the previous window's at the end of this one.
  if (c.curr > 0) {
    d.reset_after = duration{2 * per_ - elapsed};
  } else if (c.prev > 0) {
    d.reset_after = duration{per_ - elapsed};
  }
  return d;
}

// The earliest elapsed time at which the request fits, assuming nothing else is
// admitted: later in this window if curr + cost <= count (the previous window's
// weight decays linearly), otherwise in the next window, where curr becomes prev.
duration sliding_window::retry_after(const counts& c, std::int64_t elapsed,
                                     std::uint64_t cost) const {
  if (cost > spec_.count) return retry_never;
  const auto per = static_cast<std::uint64_t>(per_);
  if (c.curr + cost <= spec_.count) {
    const wide slack = wide{spec_.count - c.curr - cost} * per / c.prev;  // c.prev > 0 if refused
    const auto at = per_ - static_cast<std::int64_t>(slack);
    return duration{at - elapsed};
  }
  const wide slack = wide{spec_.count - cost} * per / c.curr;
  const auto at_next = per_ - static_cast<std::int64_t>(slack);
  return duration{(per_ - elapsed) + at_next};
}

}  // namespace bulwark::core
