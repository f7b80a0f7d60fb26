// A configured listener's admission state, shared by every worker's acceptor
// for it (DESIGN.md §4 listeners[].limits): open connections against
// max_connections and max_connections_per_ip, and the shedding threshold.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "config/config.h"

namespace bulwark::proxy {

enum class admission { admitted, over_max, over_per_ip };

class listener_state {
 public:
  explicit listener_state(const config::listener& listener) : listener_(listener) {}

  const config::listener& config() const { return listener_; }

  // Counts a new connection from `client_ip`, or refuses it. Every admitted
  // connection must be given back with release().
  admission admit(const std::string& client_ip);
  void release(const std::string& client_ip);

  // True while open connections are above shed_at × max_connections: new
  // requests are then answered 503 at once instead of queueing.
  bool shedding() const {
    return active_.load(std::memory_order_relaxed) > shed_threshold();
  }
  uint32_t active() const { return active_.load(std::memory_order_relaxed); }

 private:
  uint32_t shed_threshold() const {
    return static_cast<uint32_t>(listener_.limits.shed_at * listener_.limits.max_connections);
  }

  const config::listener listener_;
  std::atomic<uint32_t> active_{0};
  // Per-address counts change once per connection, not per request, so a
  // plain mutex is cheap here; entries are erased at zero, so the map holds
  // at most max_connections addresses.
  std::mutex per_ip_mutex_;
  std::unordered_map<std::string, uint32_t> per_ip_;
};

// An admitted connection's place in its listener, given back on destruction.
class connection_slot {
 public:
  connection_slot(listener_state& listener, std::string client_ip)
      : listener_(&listener), client_ip_(std::move(client_ip)) {}
  connection_slot(connection_slot&& other) noexcept
      : listener_(std::exchange(other.listener_, nullptr)), client_ip_(std::move(other.client_ip_)) {}
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  connection_slot& operator=(connection_slot&&) = delete;
  ~connection_slot() {
    if (listener_) listener_->release(client_ip_);
  }

  listener_state& listener() const { return *listener_; }
  const std::string& client_ip() const { return client_ip_; }

 private:
  listener_state* listener_;
  std::string client_ip_;
};

}  // namespace bulwark::proxy
