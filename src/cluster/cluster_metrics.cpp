#include "cluster/cluster_metrics.h"

namespace bulwark::cluster {
namespace {

std::string_view to_string(token_flow flow) {
  switch (flow) {
    case token_flow::granted:
      return "granted";
    case token_flow::returned:
      return "returned";
    case token_flow::charged:
      return "charged";
  }
  return "granted";
}

}  // namespace

cluster_metrics::cluster_metrics(observe::metrics_registry& registry)
    : thread_(registry.background_thread()),
      redis_up_(registry.add_gauge("bulwark_redis_up", "1 while the cluster's Redis answers.", {}).with({})),
      degraded_(registry
                    .add_gauge("bulwark_cluster_degraded",
                               "1 while cluster-scope limits follow on_redis_down instead of Redis.", {})
                    .with({})),
      instances_(registry
                     .add_gauge("bulwark_cluster_instances",
                                "Live instances in the cluster, from their heartbeats in Redis.", {})
                     .with({})),
      listed_(registry
                  .add_gauge("bulwark_cluster_keys_active",
                             "Keys of cluster-scope limits whose allowances this instance tops up.", {})
                  .with({})),
      commands_(registry
                    .add_counter("bulwark_redis_commands_total",
                                 "Commands the cluster thread sent to Redis (script calls, heartbeats).", {})
                    .with({})),
      leases_(registry.add_counter("bulwark_cluster_leases_total",
                                   "Lease script calls (one per policy per sync with work to do).",
                                   {"policy"})),
      lease_failures_(registry.add_counter("bulwark_cluster_lease_failures_total",
                                           "Lease script calls that failed or timed out.", {"policy"})),
      tokens_(registry.add_counter(
          "bulwark_cluster_tokens_total",
          "Tokens granted by leases, returned by idle keys, and charged for credit admitted early.",
          {"policy", "flow"})),
      lease_duration_(registry.add_histogram(
          "bulwark_cluster_lease_duration_seconds", "Time from a lease call to its answer.", {"policy"},
          {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1})) {}

void cluster_metrics::lease_call(std::string_view policy, double seconds) const {
  const observe::label_values labels{policy};
  leases_.with(labels).inc(thread_);
  lease_duration_.with(labels).observe(thread_, seconds);
}

void cluster_metrics::lease_failure(std::string_view policy) const {
  lease_failures_.with({policy}).inc(thread_);
}

void cluster_metrics::tokens(std::string_view policy, token_flow flow, std::int64_t n) const {
  if (n <= 0) return;
  tokens_.with({policy, to_string(flow)}).inc(thread_, static_cast<std::uint64_t>(n));
}

}  // namespace bulwark::cluster
