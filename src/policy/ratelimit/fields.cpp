#include "policy/ratelimit/fields.h"

#include <algorithm>
#include <limits>

#include "policy/ratelimit/structured_fields.h"

namespace bulwark::policy::ratelimit {
namespace {

std::int64_t clamp_integer(std::uint64_t value) {
  return static_cast<std::int64_t>(std::min<std::uint64_t>(value, sf::max_integer));
}

}  // namespace

std::optional<std::string> format_policy_field(std::span<const named_quota> policies) {
  sf::list_writer list;
  for (const auto& policy : policies) {
    if (!list.add(policy.name, {{"q", clamp_integer(policy.quota.quota)},
                                {"w", clamp_integer(policy.quota.window_seconds)}})) {
      return std::nullopt;
    }
  }
  return list.take();
}

std::optional<std::string> format_limit_field(std::string_view name, std::uint64_t remaining,
                                              core::duration reset) {
  sf::list_writer list;
  if (!list.add(name, {{"r", clamp_integer(remaining)}, {"t", clamp_integer(seconds_up(reset))}})) {
    return std::nullopt;
  }
  return list.take();
}

std::uint64_t seconds_up(core::duration span) {
  constexpr std::int64_t ns_per_second = 1'000'000'000;
  const std::int64_t ns = span.count();
  if (ns <= 0) return 0;
  if (ns > std::numeric_limits<std::int64_t>::max() - ns_per_second) return sf::max_integer;
  return std::min<std::uint64_t>(static_cast<std::uint64_t>((ns + ns_per_second - 1) / ns_per_second),
                                 sf::max_integer);
}

}  // namespace bulwark::policy::ratelimit
