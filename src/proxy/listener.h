// A configured listener's admission state, shared by every worker's acceptor
// for it (DESIGN.md §4 listeners[].limits): open connections against
// max_connections and max_connections_per_ip, and the shedding threshold.
// The limits are atomics so that a reload can change them while connections
// are counted; the counts themselves survive reloads.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "config/config.h"
#include "observe/gateway_metrics.h"

namespace bulwark::proxy {

enum class admission { admitted, over_max, over_per_ip };

class listener_state {
 public:
  explicit listener_state(const config::listener& listener) : name_(listener.name) {
    set_limits(listener.limits);
  }

  const std::string& name() const { return name_; }
  void set_limits(const config::listener_limits& limits);

  // Counts a new connection from `client_ip`, or refuses it. Every admitted
  // connection must be given back with release().
  admission admit(const std::string& client_ip);
  void release(const std::string& client_ip);

  // True while open connections are above shed_at × max_connections: new
  // requests are then answered 503 at once instead of queueing.
  bool shedding() const {
    return active_.load(std::memory_order_relaxed) > shed_threshold_.load(std::memory_order_relaxed);
  }
  uint32_t active() const { return active_.load(std::memory_order_relaxed); }
  uint32_t max_connections() const { return max_connections_.load(std::memory_order_relaxed); }

 private:
  const std::string name_;
  std::atomic<uint32_t> max_connections_{0};
  std::atomic<uint32_t> max_per_ip_{0};
  std::atomic<uint32_t> shed_threshold_{0};
  std::atomic<uint32_t> active_{0};
  // Per-address counts change once per connection, not per request, so a
  // plain mutex is cheap here; entries are erased at zero, so the map holds
  // at most max_connections addresses.
  std::mutex per_ip_mutex_;
  std::unordered_map<std::string, uint32_t> per_ip_;
};

// An admitted connection's place in its listener, given back on destruction;
// it also keeps the listener's connections_active gauge.
class connection_slot {
 public:
  connection_slot(std::shared_ptr<listener_state> listener, std::string client_ip,
                  const observe::listener_metrics& metrics, std::size_t thread)
      : listener_(std::move(listener)),
        client_ip_(std::move(client_ip)),
        metrics_(metrics),
        thread_(thread) {
    metrics_.connections_active.add(thread_, 1);
  }
  connection_slot(connection_slot&& other) noexcept = default;
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  connection_slot& operator=(connection_slot&&) = delete;
  ~connection_slot() {
    if (!listener_) return;
    listener_->release(client_ip_);
    metrics_.connections_active.add(thread_, -1);
  }

  listener_state& listener() const { return *listener_; }
  const std::string& client_ip() const { return client_ip_; }
  const observe::listener_metrics& metrics() const { return metrics_; }
  std::size_t thread() const { return thread_; }

 private:
  std::shared_ptr<listener_state> listener_;  // kept alive while a connection of a removed listener ends
  std::string client_ip_;
  observe::listener_metrics metrics_;  // handles into the process-wide registry
  std::size_t thread_;
};

}  // namespace bulwark::proxy
