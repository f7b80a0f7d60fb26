#include "core/adaptive_limit.h"

namespace bulwark::core {

adaptive_limiter::permit::permit(permit&& other) noexcept
    : owner_(other.owner_), start_(other.start_), inflight_(other.inflight_) {
  other.owner_ = nullptr;
}

adaptive_limiter::permit& adaptive_limiter::permit::operator=(permit&& other) noexcept {
  if (this != &other) {
    complete(limit_outcome::ignored, start_);
    owner_ = other.owner_;
    start_ = other.start_;
    inflight_ = other.inflight_;
    other.owner_ = nullptr;
  }
  return *this;
}

void adaptive_limiter::permit::complete(limit_outcome outcome, time_point now) {
  if (owner_ == nullptr) return;
  adaptive_limiter* owner = owner_;
  owner_ = nullptr;
  // The slot goes back first, as in Netflix's Listener: the sample describes a
  // call that is over.
  owner->inflight_.fetch_sub(1, std::memory_order_relaxed);
  if (outcome == limit_outcome::ignored) return;
  owner->algorithm_->on_sample(start_, now - start_, inflight_, outcome == limit_outcome::dropped);
}

}  // namespace bulwark::core
