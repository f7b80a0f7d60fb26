// The metrics of cluster mode (DESIGN.md §8: bulwark_redis_up,
// bulwark_cluster_degraded; and the lease metrics of docs/cluster.md).
// Registered once per gateway, whichever cluster node runs; the cluster
// thread writes them in the registry's background_thread() slot.
#pragma once

#include <string_view>

#include "observe/metrics.h"

namespace bulwark::cluster {

enum class token_flow : std::uint8_t { granted, returned, charged };

class cluster_metrics {
 public:
  explicit cluster_metrics(observe::metrics_registry& registry);

  void set_redis_up(bool up) const { redis_up_.set(thread_, up ? 1 : 0); }
  void set_degraded(bool degraded) const { degraded_.set(thread_, degraded ? 1 : 0); }
  void set_instances(std::size_t live) const { instances_.set(thread_, static_cast<std::int64_t>(live)); }
  // One lease script call for `policy`, and how long it took.
  void lease_call(std::string_view policy, double seconds) const;
  void lease_failure(std::string_view policy) const;
  void tokens(std::string_view policy, token_flow flow, std::int64_t n) const;
  void redis_command(std::uint64_t n = 1) const { commands_.inc(thread_, n); }
  // Cells (keys) under the cluster thread's care, over every policy.
  void set_listed(std::size_t cells) const { listed_.set(thread_, static_cast<std::int64_t>(cells)); }

 private:
  std::size_t thread_;
  observe::gauge redis_up_;
  observe::gauge degraded_;
  observe::gauge instances_;
  observe::gauge listed_;
  observe::counter commands_;
  observe::counter_family leases_;
  observe::counter_family lease_failures_;
  observe::counter_family tokens_;
  observe::histogram_family lease_duration_;
};

}  // namespace bulwark::cluster
