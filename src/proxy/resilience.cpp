#include "proxy/resilience.h"

#include <algorithm>
#include <random>

#include "core/aimd_limit.h"
#include "core/gradient2_limit.h"
#include "core/retry_after.h"
#include "observe/log.h"
#include "proxy/endpoint_health.h"

namespace bulwark::proxy {
namespace {

std::variant<core::bulkhead, core::adaptive_limiter> make_limiter(
    const config::concurrency_settings& settings) {
  using kind = config::concurrency_settings::kind;
  switch (settings.algorithm) {
    case kind::aimd:
      return std::variant<core::bulkhead, core::adaptive_limiter>(
          std::in_place_type<core::adaptive_limiter>,
          std::make_unique<core::aimd_limit>(settings.aimd));
    case kind::gradient2:
      return std::variant<core::bulkhead, core::adaptive_limiter>(
          std::in_place_type<core::adaptive_limiter>,
          std::make_unique<core::gradient2_limit>(settings.gradient2));
    case kind::fixed:
      break;
  }
  return std::variant<core::bulkhead, core::adaptive_limiter>(std::in_place_type<core::bulkhead>,
                                                              settings.limit);
}

// Per worker thread: backoff jitter needs no cryptographic quality, only
// independence between threads.
std::minstd_rand& jitter_random() {
  thread_local std::minstd_rand random{std::random_device{}()};
  return random;
}

bool method_listed(const std::vector<std::string>& methods, std::string_view method) {
  return std::find(methods.begin(), methods.end(), method) != methods.end();
}

}  // namespace

bool try_result::matches(const config::outcome_conditions& conditions) const {
  switch (what) {
    case kind::not_sent:
      return false;
    case kind::connect_failure:
      return conditions.connect_failure;
    case kind::reset:
      return conditions.reset;
    case kind::timeout:
      return conditions.timeout;
    case kind::response:
      return conditions.matches_status(status);
  }
  return false;
}

concurrency_limit::concurrency_limit(const config::concurrency_settings& settings)
    : limiter_(make_limiter(settings)) {}

std::optional<concurrency_limit::permit> concurrency_limit::try_acquire(core::time_point now) {
  permit taken;
  if (auto* fixed = std::get_if<core::bulkhead>(&limiter_)) {
    auto slot = fixed->try_acquire();
    if (!slot) return std::nullopt;
    taken.held_.emplace<core::bulkhead::permit>(std::move(*slot));
  } else {
    auto slot = std::get<core::adaptive_limiter>(limiter_).try_acquire(now);
    if (!slot) return std::nullopt;
    taken.held_.emplace<core::adaptive_limiter::permit>(std::move(*slot));
  }
  return taken;
}

void concurrency_limit::permit::complete(const try_result& result, core::time_point now) {
  if (auto* adaptive = std::get_if<core::adaptive_limiter::permit>(&held_)) {
    // Netflix's rule: a timeout is the overload signal (dropped); a response,
    // whatever its status, is a round trip worth learning from; a try that
    // never reached the upstream teaches nothing.
    using kind = try_result::kind;
    const auto outcome = result.what == kind::response  ? core::limit_outcome::success
                         : result.what == kind::timeout ? core::limit_outcome::dropped
                                                        : core::limit_outcome::ignored;
    adaptive->complete(outcome, now);
  }
  held_.emplace<std::monostate>();  // releases the bulkhead slot too
}

std::size_t concurrency_limit::limit() const {
  return std::visit([](const auto& limiter) { return limiter.limit(); }, limiter_);
}

std::size_t concurrency_limit::inflight() const {
  return std::visit([](const auto& limiter) { return limiter.inflight(); }, limiter_);
}

upstream_resilience make_upstream_resilience(const config::upstream& upstream,
                                             carried_state::generation& states) {
  upstream_resilience made;
  made.settings = &upstream;
  if (upstream.circuit_breaker) {
    const auto& settings = *upstream.circuit_breaker;
    made.breaker = states.obtain<core::circuit_breaker>(
        "breaker", upstream.name, settings, [&, name = upstream.name] {
          return std::make_shared<core::circuit_breaker>(
              settings.policy, [name](core::breaker_state from, core::breaker_state to) {
                using observe::log_level;
                observe::log(to == core::breaker_state::open ? log_level::warn : log_level::info,
                             "circuit breaker state changed",
                             {{"upstream", name},
                              {"from", std::string(core::to_string(from))},
                              {"to", std::string(core::to_string(to))}});
              });
        });
  }
  if (upstream.concurrency) {
    made.concurrency = states.obtain<concurrency_limit>(
        "concurrency", upstream.name, *upstream.concurrency,
        [&] { return std::make_shared<concurrency_limit>(*upstream.concurrency); });
  }
  if (upstream.health_check || upstream.outlier_detection) {
    // Health belongs to endpoints: a changed endpoint list starts afresh.
    const auto key = std::make_tuple(upstream.endpoints, upstream.health_check,
                                     upstream.outlier_detection);
    made.health = states.obtain<endpoint_health>("health", upstream.name, key, [&] {
      return std::make_shared<endpoint_health>(upstream.endpoints.size(), upstream.health_check,
                                               upstream.outlier_detection);
    });
  }
  return made;
}

route_resilience make_route_resilience(const config::route& route,
                                       carried_state::generation& states) {
  route_resilience made;
  const auto& retry = route.retry;
  made.backoff = core::backoff(retry.backoff.base, retry.backoff.max, retry.backoff.jitter);
  if (retry.budget) {
    const auto& budget = *retry.budget;
    made.budget = states.obtain<core::retry_budget>("retry_budget", route.name, budget, [&] {
      return std::make_shared<core::retry_budget>(budget.ratio, budget.min_per_s, budget.window);
    });
  }
  return made;
}

std::optional<core::duration> retry_delay(const retry_question& q) {
  const auto& retry = q.route.retry;
  if (q.tries_made >= retry.attempts || !q.body_replayable) return std::nullopt;
  if (!q.result.matches(retry.on) || !method_listed(retry.methods, q.method)) return std::nullopt;
  const auto backoff = q.shared.backoff.next_delay(q.tries_made - 1, q.previous_delay,
                                                    jitter_random());
  const bool asked_to_wait = retry.honor_retry_after && q.result.what == try_result::kind::response &&
                             (q.result.status == 429 || q.result.status == 503);
  const auto wait = core::honored_delay(asked_to_wait ? q.retry_after : std::nullopt, backoff,
                                        q.deadline - q.now);
  if (!wait) return std::nullopt;
  // The budget is asked last, so that a retry it counts is one that happens.
  if (q.shared.budget && !q.shared.budget->try_acquire_retry(q.now)) return std::nullopt;
  return wait;
}

unsigned retry_after_seconds(core::duration wait) {
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return static_cast<unsigned>(std::clamp<std::int64_t>(seconds, 1, 1 << 30));
}

}  // namespace bulwark::proxy
