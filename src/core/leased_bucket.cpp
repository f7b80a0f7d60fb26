#include "core/leased_bucket.h"

#include <algorithm>
#include <utility>

namespace bulwark::core {

lease_pool::lease_pool(std::string name, rate_limit_spec spec, shared_algorithm algorithm,
                       std::size_t max_listed)
    : name_(std::move(name)),
      spec_(spec),
      algorithm_(algorithm),
      interval_(detail::checked_emission_interval(spec)),
      max_listed_(std::max<std::size_t>(1, max_listed)) {
  // A sliding window admits `count` per window; its "burst" is that count.
  if (algorithm_ == shared_algorithm::sliding_window) spec_.burst = spec_.count;
}

lease_pool::~lease_pool() {
  for (leased_bucket* cell = take_listed(); cell != nullptr;) {
    leased_bucket* next = cell->next_;
    if (pin_ops_.release != nullptr) pin_ops_.release(cell->pin_);
    cell = next;
  }
}

std::int64_t lease_pool::credit() const {
  if (mode() == lease_mode::deny) return 0;
  const double share = std::clamp(this->share(), 0.0, 1.0);
  const double tokens = std::ceil(static_cast<double>(spec_.burst) * share);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(tokens));
}

void lease_pool::list(leased_bucket& cell, void* pin) {
  if (listed_count_.fetch_add(1, std::memory_order_relaxed) >= max_listed_) {
    listed_count_.fetch_sub(1, std::memory_order_relaxed);
    cell.listed_.store(false, std::memory_order_release);
    if (pin_ops_.release != nullptr) pin_ops_.release(pin);
    return;
  }
  cell.pin_ = pin;
  leased_bucket* head = listed_head_.load(std::memory_order_relaxed);
  do {
    cell.next_ = head;
  } while (!listed_head_.compare_exchange_weak(head, &cell, std::memory_order_release,
                                               std::memory_order_relaxed));
}

void lease_pool::unlist(leased_bucket& cell) {
  void* pin = std::exchange(cell.pin_, nullptr);
  cell.next_ = nullptr;
  // Cleared before the reference goes: a use after this lists the cell again,
  // with a reference of its own.
  cell.listed_.store(false, std::memory_order_release);
  listed_count_.fetch_sub(1, std::memory_order_relaxed);
  if (pin_ops_.release != nullptr) pin_ops_.release(pin);
}

rate_limit_decision leased_bucket::refused(std::int64_t need) const {
  const std::int64_t shared = shared_tokens_.load(std::memory_order_relaxed);
  const std::int64_t interval = pool_.emission_interval_ns();
  // Tokens come back to this instance at the next sync at the earliest, and
  // only once the shared bucket holds them (it may be below zero, paying back
  // credit admitted early).
  const std::int64_t missing = std::max<std::int64_t>(0, need - std::max<std::int64_t>(shared, 0)) +
                               std::max<std::int64_t>(0, -shared);
  const duration wait =
      std::max(pool_.sync_interval(), duration{std::min<std::int64_t>(missing, detail::max_span_ns / interval) * interval});
  const std::uint64_t remaining = remaining_with(allowance());
  if (static_cast<std::uint64_t>(need) > pool_.spec().burst) {
    return {false, remaining, retry_never, reset_after(remaining)};
  }
  return {false, remaining, wait, reset_after(remaining)};
}

}  // namespace bulwark::core
