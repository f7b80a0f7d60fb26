// Time for the core: a steady time point type and an injectable clock.
//
// Core algorithms take `now` as an argument (`bucket.try_acquire(now, cost)`);
// components that schedule work take a `core::clock&`. Production code passes a
// clock backed by std::chrono::steady_clock (src/proxy); tests use
// `manual_clock`, whose advance() fires due timers in order, so no test sleeps.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace bulwark::core {

using duration = std::chrono::nanoseconds;
using time_point = std::chrono::time_point<std::chrono::steady_clock, duration>;

class clock {
 public:
  using timer_callback = std::function<void()>;

  virtual ~clock() = default;
  virtual time_point now() const = 0;
};

// A clock that moves only when told to. schedule() registers a callback that
// advance() fires, in deadline order, once the clock reaches its deadline.
class manual_clock final : public clock {
 public:
  explicit manual_clock(time_point start = time_point{std::chrono::seconds{1'000'000}})
      : now_(start) {}

  time_point now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }

  void schedule(time_point deadline, timer_callback callback) {
    std::lock_guard lock(mutex_);
    timers_.emplace(deadline, std::move(callback));
  }

  // Moves time forward by `by`, firing every timer due on the way, each with
  // now() equal to its own deadline (so callbacks observe time in order).
  void advance(duration by) {
    time_point target;
    {
      std::lock_guard lock(mutex_);
      target = now_ + by;
    }
    for (;;) {
      timer_callback due;
      {
        std::lock_guard lock(mutex_);
        auto first = timers_.begin();
        if (first == timers_.end() || first->first > target) {
          now_ = target;
          return;
        }
        now_ = first->first;
        due = std::move(first->second);
        timers_.erase(first);
      }
      due();
    }
  }

  std::size_t pending_timers() const {
    std::lock_guard lock(mutex_);
    return timers_.size();
  }

 private:
  mutable std::mutex mutex_;
  time_point now_;
  std::multimap<time_point, timer_callback> timers_;
};

}  // namespace bulwark::core
