// One instance's membership of a cluster (DESIGN.md §9, docs/cluster.md): the
// cluster thread, its Redis client, and the work it does for cluster-scope
// rate limits.
//
// The cluster thread runs its own io_context; the workers never touch Redis,
// and nothing here is ever waited on by a request. Every `sync_interval` it
// visits each policy's listed cells (core/leased_bucket.h), plans their leases
// (core/lease_ledger.h) and sends one Lua script call per policy with work to
// do; every `heartbeat_interval` it beats in each policy's member hash, with
// its recent demand, and learns the live instances and their demand, which
// set its share of each limit (see share_of below).
//
// Modes. While Redis answers, every policy is `shared`. The first failure (a
// refused connect, a command that times out, a reset) puts every policy in
// the mode cluster.on_redis_down names; the reconnect loop (capped backoff
// with full jitter, redis_client.h) keeps trying, and the first successful
// handshake, followed by a heartbeat that refreshes the shares, puts them
// back. Requests never wait in either direction: they decide from the
// allowance they find.
//
// Threads: construction, start(), stop(), track() and status() from the main
// thread (status() from any); everything else on the cluster thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "cluster/cluster_metrics.h"
#include "cluster/redis_client.h"
#include "config/config.h"
#include "core/lease_ledger.h"
#include "core/leased_bucket.h"

namespace bulwark::cluster {

// This instance's share of a limit, from the live instances' demand per
// second (its own included): a fifth split evenly, the rest by demand. So a
// 100/0/0 skew leaves the busy instance 0.2/3 + 0.8 = 87% of the limit, and
// an instance that sees no traffic keeps 0.2/N, enough to serve a client that
// turns up while Redis is down. The shares of the live instances sum to 1.
double share_of(double own_demand, const std::vector<double>& demands);

class cluster_node {
 public:
  // `password`: the value of cluster.redis.password_env's variable (the
  // caller reads it). `metrics` may be null (tests) and outlives the node.
  cluster_node(config::cluster_settings settings, std::string password, const cluster_metrics* metrics);
  ~cluster_node();  // stop()
  cluster_node(const cluster_node&) = delete;
  cluster_node& operator=(const cluster_node&) = delete;

  void start();
  // Returns what the leases hold and leaves the member hashes (each bounded
  // by the Redis timeout), then stops the thread. Idempotent.
  void stop();

  // The policies of the running configuration snapshot. Policies no longer
  // named give their tokens back and are let go.
  void track(std::vector<std::shared_ptr<core::lease_pool>> pools);

  const config::cluster_settings& settings() const { return settings_; }
  const std::string& instance_id() const { return instance_id_; }
  bool redis_up() const { return redis_up_.load(std::memory_order_relaxed); }
  bool degraded() const { return degraded_.load(std::memory_order_relaxed); }
  std::size_t instances() const { return instances_.load(std::memory_order_relaxed); }
  // For /admin/status.
  nlohmann::json status() const;

 private:
  struct tracked_cell {
    core::leased_bucket* cell;
    core::lease_ledger ledger;
  };
  struct tracked_pool {
    std::shared_ptr<core::lease_pool> pool;
    std::string prefix;  // lease_scripts.h policy_prefix
    std::vector<tracked_cell> cells;
    bool busy = false;     // a sync of this pool is in flight
    bool retired = false;  // no longer in the configuration: give back, then drop
    std::uint64_t demand_since_beat = 0;
    double demand_per_second = 0;
  };

  boost::asio::awaitable<void> sync_loop();
  boost::asio::awaitable<void> heartbeat_loop();
  boost::asio::awaitable<void> sync_pool(std::shared_ptr<tracked_pool> pool, bool closing);
  boost::asio::awaitable<void> send_leases(tracked_pool& pool, std::vector<std::size_t> entries,
                                           std::vector<core::lease_request> requests);
  // One script call, for entries [first, last).
  boost::asio::awaitable<void> send_lease_batch(tracked_pool& pool, const std::vector<std::size_t>& entries,
                                                const std::vector<core::lease_request>& requests,
                                                std::size_t first, std::size_t last);
  boost::asio::awaitable<bool> heartbeat();
  // One beat in the member hash `key`: the live members' demands, or nullopt.
  boost::asio::awaitable<std::optional<std::vector<double>>> beat(std::string key, double demand,
                                                                  std::int64_t ttl_ms);
  boost::asio::awaitable<void> leave();
  void adopt_listed(tracked_pool& pool);
  void enter_degraded(std::string_view reason);
  void enter_shared();
  void set_mode(core::lease_mode mode);
  void publish_listed();

  const config::cluster_settings settings_;
  const std::string instance_id_;
  const cluster_metrics* metrics_;
  const core::lease_settings lease_settings_;
  boost::asio::io_context io_;
  redis_client redis_;
  std::thread thread_;
  bool stopped_ = false;  // main thread

  // Cluster thread only.
  std::vector<std::shared_ptr<tracked_pool>> pools_;
  std::string run_id_;
  core::lease_mode mode_ = core::lease_mode::shared;
  std::chrono::steady_clock::time_point last_beat_{};

  std::atomic<bool> redis_up_{false};
  std::atomic<bool> degraded_{false};
  std::atomic<std::size_t> instances_{0};
  std::atomic<std::size_t> listed_{0};
  std::atomic<std::uint64_t> restarts_seen_{0};
  mutable std::mutex status_mutex_;
  std::string last_fault_;  // guarded by status_mutex_
};

}  // namespace bulwark::cluster
