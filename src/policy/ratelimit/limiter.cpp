#include "policy/ratelimit/limiter.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace bulwark::policy::ratelimit {
namespace {

constexpr std::int64_t ns_per_second = 1'000'000'000;

std::uint64_t whole_seconds_up(std::int64_t ns) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(1, (ns + ns_per_second - 1) / ns_per_second));
}

bool keyed_once(const config::limit_key& key) {
  return key.source == config::limit_key::kind::route || key.source == config::limit_key::kind::global;
}

}  // namespace

core::rate_limit_spec spec_of(const config::rate_limit_policy& policy) {
  core::rate_limit_spec spec;
  const double count = policy.rate_per_period;
  if (count >= 1 && count <= 1e15 && count == std::floor(count) && policy.rate_period.count() > 0) {
    spec.count = static_cast<std::uint64_t>(count);
    spec.per = policy.rate_period;
  } else if (policy.rate_per_second > 0 && policy.rate_per_second < 1e9) {
    // Not written as COUNT/unit (the parser always does): one unit per interval.
    spec.count = 1;
    spec.per = core::duration{static_cast<std::int64_t>(std::ceil(1e9 / policy.rate_per_second))};
  } else {
    throw std::invalid_argument("rate must be positive");
  }
  spec.burst = policy.burst == 0 ? spec.count : policy.burst;
  return spec;
}

quota_policy describe(const config::rate_limit_policy& policy) {
  const auto spec = spec_of(policy);
  if (policy.algorithm == config::limit_algorithm::sliding_window) {
    return {spec.count, whole_seconds_up(spec.per.count())};
  }
  // burst * T with T rounded up as the limiters round it; checked_emission_interval
  // guarantees the product fits.
  const auto interval = core::detail::checked_emission_interval(spec);
  return {spec.burst, whole_seconds_up(static_cast<std::int64_t>(spec.burst) * interval)};
}

limiter_cell::any_limiter limiter_cell::make(const core::rate_limit_spec& spec,
                                             config::limit_algorithm algorithm) {
  switch (algorithm) {
    case config::limit_algorithm::gcra:
      return any_limiter(std::in_place_type<core::gcra>, spec);
    case config::limit_algorithm::sliding_window:
      return any_limiter(std::in_place_type<core::sliding_window>, spec);
    case config::limit_algorithm::token_bucket:
      break;
  }
  return any_limiter(std::in_place_type<core::token_bucket>, spec);
}

policy_state::policy_state(const config::rate_limit_policy& policy) {
  const auto spec = spec_of(policy);
  const auto algorithm = policy.algorithm;
  if (keyed_once(policy.key)) {
    single_.emplace(spec, algorithm);
    return;
  }
  // Build one limiter now so that a spec the algorithm refuses (a sliding
  // window over 2^20 - 1) fails here, at configuration time, not per key.
  limiter_cell probe(spec, algorithm);
  table_ = std::make_unique<core::key_table<limiter_cell>>(
      policy.max_keys == 0 ? 1 : policy.max_keys,
      [spec, algorithm](std::string_view) { return limiter_cell(spec, algorithm); });
}

policy_state::pinned policy_state::find(std::string_view key) {
  pinned found;
  if (single_) {
    found.limiter_ = &single_->get();
    return found;
  }
  found.hold_ = table_->get(key);
  found.limiter_ = &found.hold_->get();
  return found;
}

}  // namespace bulwark::policy::ratelimit
