#include "proxy/listener.h"

namespace bulwark::proxy {

void listener_state::set_limits(const config::listener_limits& limits) {
  max_connections_.store(limits.max_connections, std::memory_order_relaxed);
  max_per_ip_.store(limits.max_connections_per_ip, std::memory_order_relaxed);
  shed_threshold_.store(static_cast<uint32_t>(limits.shed_at * limits.max_connections),
                        std::memory_order_relaxed);
}

admission listener_state::admit(const std::string& client_ip) {
  if (active_.fetch_add(1, std::memory_order_relaxed) >= max_connections()) {
    active_.fetch_sub(1, std::memory_order_relaxed);
    return admission::over_max;
  }
  // Counted even when there is no per-address limit, so that a reload which
  // adds one sees the connections already open.
  std::lock_guard lock(per_ip_mutex_);
  auto& count = per_ip_[client_ip];
  const uint32_t limit = max_per_ip_.load(std::memory_order_relaxed);
  if (limit != 0 && count >= limit) {
    if (count == 0) per_ip_.erase(client_ip);
    active_.fetch_sub(1, std::memory_order_relaxed);
    return admission::over_per_ip;
  }
  ++count;
  return admission::admitted;
}

void listener_state::release(const std::string& client_ip) {
  {
    std::lock_guard lock(per_ip_mutex_);
    const auto it = per_ip_.find(client_ip);
    if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  }
  active_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace bulwark::proxy
