// Registration of the DESIGN.md §8 families (see gateway_metrics.h).
#include "observe/gateway_metrics.h"

namespace bulwark::observe {

std::string_view to_string(upstream_outcome outcome) {
  switch (outcome) {
    case upstream_outcome::success:
      return "success";
    case upstream_outcome::failure:
      return "failure";
    case upstream_outcome::timeout:
      return "timeout";
    case upstream_outcome::reset:
      return "reset";
  }
  return "unknown";
}

std::string_view to_string(rejection_reason reason) {
  switch (reason) {
    case rejection_reason::max:
      return "max";
    case rejection_reason::per_ip:
      return "per_ip";
    case rejection_reason::shed:
      return "shed";
  }
  return "unknown";
}

std::string_view to_string(reload_result result) {
  switch (result) {
    case reload_result::success:
      return "success";
    case reload_result::failure:
      return "failure";
  }
  return "unknown";
}

std::string_view to_string(retry_reason reason) {
  switch (reason) {
    case retry_reason::connect_failure:
      return "connect_failure";
    case retry_reason::reset:
      return "reset";
    case retry_reason::timeout:
      return "timeout";
  }
  return "unknown";
}

std::string_view to_string(limit_decision decision) {
  return decision == limit_decision::allow ? "allow" : "deny";
}

gateway_metrics::gateway_metrics(metrics_registry& registry, std::string_view version)
    : registry_(registry),
      http_requests_(
          registry.add_counter("bulwark_http_requests_total",
                               "HTTP requests answered, by listener, route and status code.",
                               {"listener", "route", "code"})),
      http_request_duration_(registry.add_histogram(
          "bulwark_http_request_duration_seconds",
          "Time from the request head to the end of the response, by route.", {"route"},
          {duration_buckets_seconds.begin(), duration_buckets_seconds.end()})),
      upstream_requests_(registry.add_counter(
          "bulwark_upstream_requests_total",
          "Attempts sent to an upstream, by outcome (success, failure, timeout, reset).",
          {"upstream", "outcome"})),
      connections_active_(registry.add_gauge(
          "bulwark_connections_active", "Client connections open, by listener.", {"listener"})),
      connections_rejected_(registry.add_counter(
          "bulwark_connections_rejected_total",
          "Client connections refused, by listener and reason (max, per_ip, shed).",
          {"listener", "reason"})),
      config_reloads_(registry.add_counter("bulwark_config_reloads_total",
                                           "Configuration reloads, by result (success, failure).",
                                           {"result"})),
      ratelimit_decisions_(registry.add_counter(
          "bulwark_ratelimit_decisions_total",
          "Rate-limit decisions, by route, policy and decision (allow, deny).",
          {"route", "policy", "decision"})),
      upstream_retries_(registry.add_counter(
          "bulwark_upstream_retries_total",
          "Retries sent to an upstream, by reason (connect_failure, reset, timeout, or the "
          "status code that was retried).",
          {"upstream", "reason"})),
      upstream_ejections_(registry.add_counter(
          "bulwark_upstream_ejections_total",
          "Endpoints ejected by outlier detection, by upstream.", {"upstream"})),
      breaker_state_(registry.add_gauge("bulwark_circuit_breaker_state",
                                        "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
                                        {"upstream"})),
      concurrency_limit_(registry.add_gauge("bulwark_upstream_concurrency_limit",
                                            "Current concurrency limit (fixed or adaptive).",
                                            {"upstream"})),
      upstream_inflight_(registry.add_gauge(
          "bulwark_upstream_inflight", "Tries in flight under the concurrency limit.",
          {"upstream"})),
      endpoints_usable_(registry.add_gauge(
          "bulwark_upstream_endpoints_usable",
          "Endpoints neither failed by health checks nor ejected.", {"upstream"})),
      access_log_dropped_(
          registry
              .add_counter("bulwark_access_log_dropped_total",
                           "Access log lines dropped because a worker's ring was full "
                           "(the writer fell behind) or the log had stopped.",
                           {})
              .with({})) {
  registry.add_gauge("bulwark_build_info", "Always 1; the version is a label.", {"version"})
      .with({version})
      .add(registry.main_thread(), 1);
  for (auto result : {reload_result::success, reload_result::failure}) {
    config_reloads_.with({to_string(result)});
  }
}

listener_metrics gateway_metrics::for_listener(std::string_view listener) const {
  auto rejected = [&](rejection_reason reason) {
    return connections_rejected_.with({listener, to_string(reason)});
  };
  return listener_metrics{connections_active_.with({listener}),
                          {rejected(rejection_reason::max), rejected(rejection_reason::per_ip),
                           rejected(rejection_reason::shed)}};
}

route_metrics gateway_metrics::for_route(std::string_view listener, std::string_view route) const {
  return route_metrics{status_counter(http_requests_, {listener, route}),
                       http_request_duration_.with({route})};
}

upstream_metrics gateway_metrics::for_upstream(std::string_view upstream) const {
  auto outcome = [&](upstream_outcome o) {
    return upstream_requests_.with({upstream, to_string(o)});
  };
  auto retry = [&](retry_reason r) { return upstream_retries_.with({upstream, to_string(r)}); };
  return upstream_metrics{{outcome(upstream_outcome::success), outcome(upstream_outcome::failure),
                           outcome(upstream_outcome::timeout), outcome(upstream_outcome::reset)},
                          {retry(retry_reason::connect_failure), retry(retry_reason::reset),
                           retry(retry_reason::timeout)},
                          status_counter(upstream_retries_, {upstream}),
                          upstream_ejections_.with({upstream})};
}

rate_limit_metrics gateway_metrics::for_rate_limit(std::string_view route,
                                                  std::string_view policy) const {
  auto decision = [&](limit_decision d) {
    return ratelimit_decisions_.with({route, policy, to_string(d)});
  };
  return rate_limit_metrics{{decision(limit_decision::allow), decision(limit_decision::deny)}};
}

void gateway_metrics::sample_upstream(std::string_view upstream,
                                      const upstream_state_sample& sample) const {
  const auto thread = registry_.main_thread();
  const auto set = [&](const gauge_family& family, const auto& value) {
    if (value) family.with({upstream}).set(thread, static_cast<std::int64_t>(*value));
  };
  set(breaker_state_, sample.breaker_state);
  set(concurrency_limit_, sample.concurrency_limit);
  set(upstream_inflight_, sample.inflight);
  set(endpoints_usable_, sample.usable_endpoints);
}

// The log counts its drops itself; the counter catches up at each scrape.
void gateway_metrics::sample_access_log_dropped(std::uint64_t total) const {
  const auto exported = access_log_dropped_.value();
  if (total > exported) access_log_dropped_.inc(registry_.main_thread(), total - exported);
}

void gateway_metrics::count_reload(reload_result result) const {
  config_reloads_.with({to_string(result)}).inc(registry_.main_thread());
}

}  // namespace bulwark::observe
