// The resilience state of the upstream call (DESIGN.md §1 "breaker +
// concurrency permit ─► send ◄── retry?"): per upstream a circuit breaker, a
// concurrency limit and endpoint health; per route a retry budget and a
// backoff. One object of each is shared by every worker (the policies of
// src/core are lock-free) and carried across reloads while its settings stay
// the same (phase/carried_state.h). The forwarder (forwarder.cpp) uses them; the
// rules for what a try's result means live here, apart from the I/O.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "config/config.h"
#include "core/adaptive_limit.h"
#include "core/backoff.h"
#include "core/bulkhead.h"
#include "core/circuit_breaker.h"
#include "core/retry_budget.h"
#include "phase/carried_state.h"

namespace bulwark::proxy {

using phase::carried_state;

class endpoint_health;

// What became of one try, in the vocabulary of `retry.on` and
// `circuit_breaker.failure_on`.
struct try_result {
  enum class kind {
    not_sent,         // refused before reaching the upstream (pool full): says nothing about it
    connect_failure,  // no connection could be made
    reset,            // the connection broke before a full response header
    timeout,          // the try's deadline passed first
    response,         // a response header arrived; see `status`
  };
  kind what = kind::not_sent;
  unsigned status = 0;

  bool matches(const config::outcome_conditions& conditions) const;
};

// A fixed bulkhead or an adaptive limit (`upstreams[].concurrency`).
class concurrency_limit {
 public:
  // Held for the length of one try; released on every path.
  class permit {
   public:
    permit() = default;
    // A finished try: teaches an adaptive limit (success, or dropped when the
    // upstream timed out); a fixed bulkhead only releases.
    void complete(const try_result& result, core::time_point now);

   private:
    friend class concurrency_limit;
    std::variant<std::monostate, core::bulkhead::permit, core::adaptive_limiter::permit> held_;
  };

  explicit concurrency_limit(const config::concurrency_settings& settings);

  std::optional<permit> try_acquire(core::time_point now);
  std::size_t limit() const;
  std::size_t inflight() const;

 private:
  std::variant<core::bulkhead, core::adaptive_limiter> limiter_;
};

// Everything shared about one upstream. Members are null when not configured.
struct upstream_resilience {
  std::shared_ptr<core::circuit_breaker> breaker;
  std::shared_ptr<concurrency_limit> concurrency;
  std::shared_ptr<endpoint_health> health;
  const config::upstream* settings = nullptr;
};

// Everything shared about one route's retries.
struct route_resilience {
  std::shared_ptr<core::retry_budget> budget;  // null: no budget
  core::backoff backoff{core::duration::zero(), core::duration::zero(), core::jitter::none};
};

upstream_resilience make_upstream_resilience(const config::upstream& upstream,
                                             carried_state::generation& states);
route_resilience make_route_resilience(const config::route& route,
                                       carried_state::generation& states);

// The wait before retry number `retry` (0 for the first), or nullopt when no
// retry may start: not allowed for this result or method, out of attempts,
// out of budget, or the wait would not end before `deadline`.
struct retry_question {
  const config::route& route;
  const route_resilience& shared;
  const try_result& result;
  std::string_view method;
  unsigned tries_made;          // tries so far, the failed one included
  bool body_replayable;         // the request body can be sent again
  std::optional<core::duration> retry_after;  // the upstream's, already parsed
  core::duration previous_delay;
  core::time_point now;
  core::time_point deadline;  // the route's timeout
};
std::optional<core::duration> retry_delay(const retry_question& question);

// Whole seconds, rounded up, at least 1 (DESIGN.md §4).
unsigned retry_after_seconds(core::duration wait);

}  // namespace bulwark::proxy
