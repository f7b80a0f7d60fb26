// The running gateway, owned by the main thread (DESIGN.md §3): the current
// configuration snapshot, the listeners and the workers. start() and
// reload() go through one path, apply(): resolve the upstreams, bind what is
// new, then hand every worker the new snapshot. A reload that fails at any
// step changes nothing, so the running configuration stays.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/cluster_metrics.h"
#include "cluster/cluster_node.h"
#include "config/loader.h"
#include "observe/access_log.h"
#include "observe/gateway_metrics.h"
#include "observe/metrics.h"
#include "phase/carried_state.h"
#include "proxy/listener.h"
#include "proxy/vocabulary.h"

namespace bulwark::proxy {

class worker;
class pipeline;
class health_checker;
struct listener_binding;

// A configuration file read and validated, with the hash /admin/status shows.
struct loaded_config {
  config::load_result result;
  std::string hash;  // FNV-1a 64 of the file's bytes, hex
};

loaded_config load_config(const std::string& path);

struct reload_result {
  bool ok = false;
  std::string hash;                   // of the running configuration afterwards
  std::vector<std::string> problems;  // file:line:col errors, or why applying failed
};

class gateway {
 public:
  gateway(std::string config_path, core::duration drain_timeout);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Starts workers and listeners for a loaded configuration; false (logged) on failure.
  bool start(const loaded_config& loaded);
  // Re-reads the configuration file and applies it.
  reload_result reload();
  // Draining (SIGTERM): stop accepting and close idle connections; in-flight
  // requests go on. The caller waits for drained() up to drain_timeout()
  // while the admin API keeps answering (readiness is 503), then stop()s.
  void begin_drain();
  bool drained() const;
  core::duration drain_timeout() const { return drain_timeout_; }
  void stop();

  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  // Empty when ready; otherwise why not (DESIGN.md §7 /health/ready).
  std::vector<std::string> not_ready_reasons() const;
  nlohmann::json status() const;
  std::shared_ptr<const config::gateway_config> config() const { return config_; }
  std::size_t worker_count() const { return workers_.size(); }
  // Prometheus text of every metric (DESIGN.md §8).
  std::string metrics_text() const;
  // SIGUSR1: reopen the access log file (after logrotate moved it).
  void reopen_access_log();

 private:
  struct bound_listener {
    std::shared_ptr<listener_state> state;
    config::address configured;
    tcp::endpoint endpoint;  // with the port the OS chose for port 0
  };

  // A listener bound by a reload that is not committed yet: one acceptor per worker.
  struct opened_listener {
    bound_listener bound;
    std::vector<std::shared_ptr<listener_binding>> bindings;
  };

  bool apply(std::shared_ptr<const config::gateway_config> next, std::string hash,
             std::vector<std::string>& problems);
  void update_health_checks(const std::vector<std::vector<tcp::endpoint>>& endpoints);
  static std::optional<std::string> cluster_password(const config::gateway_config& next,
                                                     std::vector<std::string>& problems);
  void update_cluster(const config::gateway_config& next, std::string password,
                      std::vector<std::shared_ptr<core::lease_pool>> pools);
  bool bind_new_listeners(const config::gateway_config& next,
                          std::map<std::string, opened_listener>& opened,
                          std::vector<std::string>& problems);

  const std::string config_path_;
  const core::duration drain_timeout_;
  const core::time_point started_at_;
  std::shared_ptr<const config::gateway_config> config_;
  std::string hash_;
  std::map<std::string, bound_listener> listeners_;
  phase::carried_state carried_;  // policy state handed from snapshot to snapshot
  std::shared_ptr<const pipeline> phases_;  // the running snapshot's pipeline
  std::unique_ptr<health_checker> health_checker_;  // probes endpoints on its own thread
  // Created by start(), once the number of workers (the metric threads) is known.
  std::unique_ptr<observe::metrics_registry> registry_;
  std::unique_ptr<observe::gateway_metrics> metrics_;
  // Cluster mode: the node (its own thread, talking to Redis) while the
  // configuration has a cluster section, and its metrics, registered once
  // (declared after the registry: the node's thread stops before it goes).
  std::unique_ptr<cluster::cluster_metrics> cluster_metrics_;
  std::unique_ptr<cluster::cluster_node> cluster_;
  std::unique_ptr<observe::access_log> access_log_;  // outlives the workers (declared before)
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> running_{false};
};

}  // namespace bulwark::proxy
