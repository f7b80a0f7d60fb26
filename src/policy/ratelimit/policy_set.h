// The rate limits of one route, applied together (DESIGN.md routes[].rate_limits).
//
// All or nothing: a request passes only if every policy that applies to it
// admits it, and a refused request takes nothing from any policy. With one
// policy that is a single try_acquire. With several, evaluate() first peeks
// at every limiter (no writes: a flood that one policy refuses leaves the
// others' state, and its cache lines, untouched), then takes from each in
// turn; if a take loses a race (another request took the last unit between
// the peek and the take), what was already taken is refunded and the
// request is refused.
//
// The race accepted: between a take and its refund, another request may find
// that quota gone and be refused although, a moment later, it would have
// passed. So two requests racing on the same keys can both be refused where
// one could have passed (under-admission, for microseconds), never both
// admitted where one should not (no over-admission): every admission is a
// successful CAS on each limiter.
//
// Which policies apply: client_ip, header:<name> (a missing header is the key
// ""), route and global always; api_key only when the request carries an
// accepted API key, jwt:<claim> only when it carries a verified JWT with that
// claim. A policy keyed by a credential limits the holders of credentials:
// anonymous traffic is not lumped under one key, where a single client could
// exhaust everybody's quota; limit it with a client_ip policy beside it.
//
// A key's rate override (DESIGN.md §2 "per key: ... optional rate override")
// applies in the policies keyed by `api_key`, and in no other: there the key
// is limited at its own rate (policy_state::find, override_spec in
// limiter.h), and this request's RateLimit-Policy shows that policy's q and w
// from the override. The route's own field, with every policy's rate, is
// built once; only a request whose override applied formats its own.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/units.h"
#include "observe/gateway_metrics.h"
#include "phase/carried_state.h"
#include "policy/ratelimit/fields.h"
#include "policy/ratelimit/limiter.h"

namespace bulwark::policy::ratelimit {

// What the keys of a request are built from (an adapter over the request
// context in the phase; a fake in tests).
class request_keys {
 public:
  virtual ~request_keys() = default;
  virtual std::string client_ip() const = 0;
  virtual std::optional<std::string_view> api_key_id() const = 0;
  // The accepted API key's rate override; nullopt when it has none (or there
  // is no key).
  virtual std::optional<core::rate> api_key_rate() const = 0;
  virtual std::optional<std::string_view> jwt_claim(std::string_view claim) const = 0;
  virtual std::optional<std::string_view> header(std::string_view name) const = 0;
};

// Keys are stored as given, so a client-chosen value (a header, a claim)
// longer than this is replaced by "sha256:" and the hex of its digest's first
// 16 bytes: table memory stays bounded per key, and distinct values keep
// distinct keys.
inline constexpr std::size_t max_key_bytes = 128;

// The key of `request` under `key`; nullopt when the policy does not apply.
std::optional<std::string> key_of(const config::limit_key& key, const request_keys& request);

struct verdict {
  static constexpr std::size_t none = static_cast<std::size_t>(-1);

  bool allowed = true;
  // The value of the RateLimit-Policy field for this request: the route's
  // (policy_set::policy_field), a view of the set's text, or where a key's
  // rate override applied, the same with the override's quota in place of
  // its policy's, in `overridden_policy_field`.
  std::string_view route_policy_field;
  std::optional<std::string> overridden_policy_field;
  std::string_view policy_field() const {
    return overridden_policy_field ? std::string_view{*overridden_policy_field} : route_policy_field;
  }
  // The value of the RateLimit field, for the policy closest to refusal (the
  // refusing one when refused); empty when no policy applied.
  std::string limit_field;
  // When refused: the policy that refused (the one whose quota comes back
  // last, if several did) and Retry-After in whole seconds, rounded up, at
  // least 1, the time after which the same request is admitted if nothing
  // else consumes quota meanwhile.
  std::size_t refused_by = none;
  std::uint64_t retry_after_seconds = 0;
};

class policy_set {
 public:
  // Obtains each policy's state from `states`: kind "ratelimit", name
  // route/policy; a `global` policy's under kind "ratelimit-global" and the
  // policy's name alone, so every route that names the same global policy
  // (with equal settings) shares its one limiter. Throws std::invalid_argument
  // (with the policy's name) when a policy cannot be built.
  policy_set(const config::route& route, phase::carried_state::generation& states,
             const observe::gateway_metrics* metrics);

  verdict evaluate(const request_keys& request, core::time_point now, std::size_t thread) const;

  // The value of the RateLimit-Policy field: one member per policy, at the
  // policies' own rates.
  const std::string& policy_field() const { return policy_field_; }
  // The pools of this route's cluster-scope policies (limiter.h), for the
  // cluster thread.
  std::vector<std::shared_ptr<core::lease_pool>> lease_pools() const;
  const std::string& policy_name(std::size_t index) const { return policies_[index].name; }
  std::size_t size() const { return policies_.size(); }
  policy_state& state_for_test(std::size_t index) const { return *policies_[index].state; }

 private:
  struct policy {
    std::string name;
    config::limit_key key;
    std::shared_ptr<policy_state> state;
    quota_policy quota;  // advertised at the policy's own rate
    std::optional<observe::rate_limit_metrics> metrics;
    // Always set: the constructor refuses a name it could not format.
    std::optional<limit_field_format> limit_field;
  };
  struct applied;

  // RateLimit-Policy with the quotas of the overrides that applied; nullopt
  // when none did (the route's field stands).
  std::optional<std::string> overridden_policy_field(std::span<const applied> applying) const;

  void record(const policy& p, std::size_t thread, observe::limit_decision decision) const {
    if (p.metrics) p.metrics->record(thread, decision);
  }

  std::vector<policy> policies_;
  std::string policy_field_;
};

}  // namespace bulwark::policy::ratelimit
