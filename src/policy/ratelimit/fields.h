// The RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers,
// the revisions whose fields are RFC 9651 Lists):
//
//   RateLimit-Policy: "per-ip";q=5;w=60, "per-key";q=100;w=1
//   RateLimit: "per-ip";r=3;t=12
//
// q and w are explained at ratelimit::describe() (limiter.h); r is the whole
// units of quota left, t the whole seconds (rounded up) until the policy's
// full quota is back if nothing consumes it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "core/clock.h"
#include "policy/ratelimit/limiter.h"

namespace bulwark::policy::ratelimit {

inline constexpr std::string_view policy_field_name = "RateLimit-Policy";
inline constexpr std::string_view limit_field_name = "RateLimit";

struct named_quota {
  std::string_view name;
  quota_policy quota;
};

// nullopt when a name cannot be an sf-string (a byte outside printable ASCII).
// Numbers beyond the sf-integer range are clamped to it.
std::optional<std::string> format_policy_field(std::span<const named_quota> policies);
std::optional<std::string> format_limit_field(std::string_view name, std::uint64_t remaining,
                                              core::duration reset);

// The RateLimit field of one policy, as format_limit_field writes it, with the
// name serialized once: a request writes two numbers after it, into a string
// allocated once at its final size. (Through sf::list_writer a request paid
// ~780 instructions: the same name checked and escaped again, the list
// growing, std::to_string's strings; this way ~280.)
class limit_field_format {
 public:
  // nullopt when `name` cannot be an sf-string.
  static std::optional<limit_field_format> for_policy(std::string_view name);

  std::string format(std::uint64_t remaining, core::duration reset) const;

 private:
  explicit limit_field_format(std::string head) : head_(std::move(head)) {}

  std::string head_;  // `"<name>";r=`
};

// Whole seconds, rounded up; a negative span is 0, core::retry_never and
// anything beyond the sf-integer range is clamped to it.
std::uint64_t seconds_up(core::duration span);

}  // namespace bulwark::policy::ratelimit
