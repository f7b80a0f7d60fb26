// The rate-limit phase (DESIGN.md §1, after route and auth): applies the
// matched route's rate_limits (policy_set.h), answers 429 problem+json with
// Retry-After when they refuse, and puts RateLimit-Policy and RateLimit on
// every response of a limited route.
#pragma once

#include <memory>
#include <vector>

#include "phase/request_phase.h"
#include "policy/ratelimit/policy_set.h"

namespace bulwark::policy::ratelimit {

class ratelimit_phase final : public phase::request_phase {
 public:
  // A policy that cannot be built is reported in build.problems (the reload
  // is then rejected) and its route runs without rate limits.
  ratelimit_phase(const config::gateway_config& config, phase::phase_build_context& build);

  std::string_view name() const override { return "rate_limit"; }
  phase::phase_result on_request(phase::request_context& ctx) override;

  // The decision at `now`: what on_request does with the clock read.
  phase::phase_result decide(phase::request_context& ctx, core::time_point now) const;

  // Null for a route without rate limits.
  const policy_set* policies_for_test(std::size_t route_index) const {
    return route_index < routes_.size() ? routes_[route_index].get() : nullptr;
  }

 private:
  // The route's policies; null when it has none (or no route matched).
  const policy_set* policies_of(const phase::request_context& ctx) const;
  phase::phase_result decide(phase::request_context& ctx, const policy_set& policies,
                             core::time_point now) const;

  const config::route* routes_base_;
  std::vector<std::unique_ptr<const policy_set>> routes_;  // by route index
};

}  // namespace bulwark::policy::ratelimit
