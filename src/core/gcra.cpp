// Construction and the cold paths of gcra (the hot path is inline in the header).
#include "core/gcra.h"

namespace bulwark::core {

gcra::gcra(rate_limit_spec spec)
    : spec_(spec),
      interval_(detail::checked_emission_interval(spec)),
      tolerance_(static_cast<std::int64_t>(spec.burst) * interval_) {}

time_point gcra::theoretical_arrival(time_point now) const {
  return std::max(time_point{duration{tat_.load(std::memory_order_relaxed)}}, now);
}

rate_limit_decision gcra::refuse_oversized(std::int64_t now) const {
  const std::int64_t start = std::max(tat_.load(std::memory_order_relaxed), now);
  return {false, whole_units(now + tolerance_ - start), retry_never, duration{start - now}};
}

}  // namespace bulwark::core
