// The gateway's own metric families, named as in DESIGN.md §8, and the
// bundles of handles the proxy caches per listener, route and upstream.
//
// The proxy builds a listener_metrics / route_metrics / upstream_metrics when
// it (re)loads a config and keeps it next to the listener, route or upstream it
// describes; a request then touches only handles, never the registry. Because
// series are keyed by label values, a bundle rebuilt on reload for a name that
// still exists points at the same counters.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "observe/metrics.h"

namespace bulwark::observe {

// Request durations: 0.5 ms to 30 s (issue 4 §1).
inline constexpr std::array<double, 15> duration_buckets_seconds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

enum class upstream_outcome : std::uint8_t { success, failure, timeout, reset };
enum class rejection_reason : std::uint8_t { max, per_ip, shed };
enum class reload_result : std::uint8_t { success, failure };

std::string_view to_string(upstream_outcome outcome);
std::string_view to_string(rejection_reason reason);
std::string_view to_string(reload_result result);

struct listener_metrics {
  gauge connections_active;
  std::array<counter, 3> rejected;  // by rejection_reason

  void reject(std::size_t thread, rejection_reason reason) const {
    rejected[static_cast<std::size_t>(reason)].inc(thread);
  }
};

struct route_metrics {
  status_counter requests;  // {listener, route, code}
  histogram duration;       // seconds

  void record(std::size_t thread, int status, double seconds) const {
    requests.inc(thread, status);
    duration.observe(thread, seconds);
  }
};

// Why a try was retried: a failure without a response, or the response's status.
enum class retry_reason : std::uint8_t { connect_failure, reset, timeout };
std::string_view to_string(retry_reason reason);

struct upstream_metrics {
  std::array<counter, 4> requests;  // by upstream_outcome
  std::array<counter, 3> retries;   // by retry_reason
  status_counter retried_statuses;  // retries of a response, reason = its status code
  counter ejections;                // endpoints ejected by outlier detection

  void record(std::size_t thread, upstream_outcome outcome) const {
    requests[static_cast<std::size_t>(outcome)].inc(thread);
  }
  void count_retry(std::size_t thread, retry_reason reason) const {
    retries[static_cast<std::size_t>(reason)].inc(thread);
  }
};

enum class limit_decision : std::uint8_t { allow, deny };
std::string_view to_string(limit_decision decision);

// One rate-limit policy of one route.
struct rate_limit_metrics {
  std::array<counter, 2> decisions;  // by limit_decision

  void record(std::size_t thread, limit_decision decision) const {
    decisions[static_cast<std::size_t>(decision)].inc(thread);
  }
};

// State of an upstream's shared policies, sampled when metrics are scraped
// (the policies keep their own state; copying it into counters on every
// request would cost the hot path for nothing). Unset: not configured.
struct upstream_state_sample {
  std::optional<int> breaker_state;  // 0 closed, 1 open, 2 half-open
  std::optional<std::size_t> concurrency_limit;
  std::optional<std::size_t> inflight;
  std::optional<std::size_t> usable_endpoints;
};

class gateway_metrics {
 public:
  // Registers the families, bulwark_build_info{version} = 1, and both
  // reload results (at 0), so a dashboard sees every series from the start.
  gateway_metrics(metrics_registry& registry, std::string_view version);

  // Every rejection reason is created at once, at 0, for the same reason.
  listener_metrics for_listener(std::string_view listener) const;
  route_metrics for_route(std::string_view listener, std::string_view route) const;
  upstream_metrics for_upstream(std::string_view upstream) const;
  rate_limit_metrics for_rate_limit(std::string_view route, std::string_view policy) const;

  void count_reload(reload_result result) const;
  // Main thread only, before rendering the metrics text.
  void sample_upstream(std::string_view upstream, const upstream_state_sample& sample) const;
  // Main thread only: `total` is access_log::dropped(), which only grows.
  void sample_access_log_dropped(std::uint64_t total) const;

  metrics_registry& registry() const { return registry_; }

 private:
  metrics_registry& registry_;
  counter_family http_requests_;
  histogram_family http_request_duration_;
  counter_family upstream_requests_;
  gauge_family connections_active_;
  counter_family connections_rejected_;
  counter_family config_reloads_;
  counter_family ratelimit_decisions_;
  counter_family upstream_retries_;
  counter_family upstream_ejections_;
  gauge_family breaker_state_;
  gauge_family concurrency_limit_;
  gauge_family upstream_inflight_;
  gauge_family endpoints_usable_;
  counter access_log_dropped_;
};

}  // namespace bulwark::observe
