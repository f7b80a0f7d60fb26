#include "policy/ratelimit/fields.h"

#include <algorithm>
#include <charconv>
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
  const auto format = limit_field_format::for_policy(name);
  if (!format) return std::nullopt;
  return format->format(remaining, reset);
}

// A List of one member: the String item, then its parameters `r` and `t`
// (valid sf-keys), as sf::list_writer would write them.
std::optional<limit_field_format> limit_field_format::for_policy(std::string_view name) {
  std::string head;
  if (!sf::append_string(head, name)) return std::nullopt;
  head += ";r=";
  return limit_field_format(std::move(head));
}

std::string limit_field_format::format(std::uint64_t remaining, core::duration reset) const {
  // Two clamped sf-integers (15 digits at most, never negative) around `;t=`,
  // written here and appended at once.
  constexpr std::size_t digits = 15;
  constexpr std::string_view t_parameter = ";t=";
  char numbers[digits + t_parameter.size() + digits];
  char* end = std::to_chars(numbers, numbers + digits, clamp_integer(remaining)).ptr;
  end = std::copy(t_parameter.begin(), t_parameter.end(), end);
  end = std::to_chars(end, end + digits, clamp_integer(seconds_up(reset))).ptr;
  std::string out;
  out.reserve(head_.size() + static_cast<std::size_t>(end - numbers));
  out.append(head_).append(numbers, end);
  return out;
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
