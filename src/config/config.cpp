// The few functions of the config structs (config.h) that are not one-liners:
// the defaults of outcome lists and breakers, and limit keys written back.
#include "config/config.h"

#include <algorithm>

#include "config/concat.h"

namespace bulwark::config {

bool outcome_conditions::empty() const {
  return !connect_failure && !reset && !timeout &&
         std::none_of(status.begin(), status.end(), [](bool listed) { return listed; });
}

outcome_conditions outcome_conditions::retry_default() {
  outcome_conditions conditions;
  conditions.connect_failure = conditions.reset = conditions.timeout = true;
  // 502 and 503 say the request was not processed, 504 that the upstream gave
  // up; a 500 may come from a request that did its work, so it is not retried
  // unless asked for.
  conditions.status[502] = conditions.status[503] = conditions.status[504] = true;
  return conditions;
}

outcome_conditions outcome_conditions::breaker_default() {
  outcome_conditions conditions;
  conditions.connect_failure = conditions.reset = conditions.timeout = true;
  std::fill(conditions.status.begin() + 500, conditions.status.end(), true);
  return conditions;
}

core::circuit_breaker_settings breaker_settings::default_policy() {
  core::circuit_breaker_settings policy;
  policy.window_type = core::window_kind::time_based;
  policy.slow_call = no_slow_call;
  policy.slow_call_rate = 1.0;
  return policy;
}

std::string limit_key::text() const {
  switch (source) {
    case kind::client_ip:
      return "client_ip";
    case kind::api_key:
      return "api_key";
    case kind::jwt_claim:
      return concat({"jwt:", name});
    case kind::header:
      return concat({"header:", name});
    case kind::route:
      return "route";
    case kind::global:
      return "global";
  }
  return "client_ip";
}

}  // namespace bulwark::config
