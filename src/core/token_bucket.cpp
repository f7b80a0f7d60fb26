// Construction and the cold paths of token_bucket (the hot path is inline in the header).
#include "core/token_bucket.h"

namespace bulwark::core {

token_bucket::token_bucket(rate_limit_spec spec)
    : spec_(spec),
      interval_(detail::checked_emission_interval(spec)),
      capacity_span_(static_cast<std::int64_t>(spec.burst) * interval_) {}

std::uint64_t token_bucket::tokens(time_point now) const {
  const std::int64_t t = now.time_since_epoch().count();
  const std::int64_t base = std::max(empty_at_.load(std::memory_order_relaxed), t - capacity_span_);
  return whole_tokens(t - base);
}

rate_limit_decision token_bucket::refuse_oversized(std::int64_t now) const {
  const std::int64_t base = std::max(empty_at_.load(std::memory_order_relaxed), now - capacity_span_);
  return {false, whole_tokens(now - base), retry_never, duration{base + capacity_span_ - now}};
}

}  // namespace bulwark::core
