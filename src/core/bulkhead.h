// Bulkhead: a fixed limit on concurrent calls (DESIGN.md `concurrency.limit`).
//
// try_acquire() hands out at most `limit` permits at a time. A permit is an RAII
// guard (Pingora's Inflight guard): it gives its slot back when destroyed, so the
// slot is released on every path, errors and exceptions included. It is movable
// (into the per-request context), not copyable, and must not outlive its
// bulkhead.
//
// Concurrency: a CAS loop on the in-flight count, which therefore never exceeds
// the limit, not even transiently (a fetch_add-then-undo would overshoot and
// make a concurrent caller refuse for nothing). A refusal writes nothing.
// Relaxed ordering: the counter guards no other data.
#pragma once

#include <atomic>
#include <cstddef>
#include <optional>

namespace bulwark::core {

class bulkhead {
 public:
  class permit {
   public:
    permit(permit&& other) noexcept : owner_(other.owner_) { other.owner_ = nullptr; }
    permit& operator=(permit&& other) noexcept;
    permit(const permit&) = delete;
    permit& operator=(const permit&) = delete;
    ~permit() { release(); }

    // Gives the slot back before the end of the scope; later calls do nothing.
    void release() noexcept;

   private:
    friend class bulkhead;
    explicit permit(bulkhead* owner) : owner_(owner) {}

    bulkhead* owner_;
  };

  explicit bulkhead(std::size_t limit) : limit_(limit) {}
  bulkhead(const bulkhead&) = delete;
  bulkhead& operator=(const bulkhead&) = delete;

  std::optional<permit> try_acquire() {
    std::size_t current = inflight_.load(std::memory_order_relaxed);
    do {
      if (current >= limit_) return std::nullopt;
    } while (!inflight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return permit{this};
  }

  std::size_t inflight() const { return inflight_.load(std::memory_order_relaxed); }
  std::size_t limit() const { return limit_; }

 private:
  std::atomic<std::size_t> inflight_{0};
  const std::size_t limit_;
};

inline void bulkhead::permit::release() noexcept {
  if (owner_ == nullptr) return;
  owner_->inflight_.fetch_sub(1, std::memory_order_relaxed);
  owner_ = nullptr;
}

inline bulkhead::permit& bulkhead::permit::operator=(permit&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = other.owner_;
    other.owner_ = nullptr;
  }
  return *this;
}

}  // namespace bulwark::core
