#include "proxy/listener.h"

namespace bulwark::proxy {

admission listener_state::admit(const std::string& client_ip) {
  const auto& limits = listener_.limits;
  if (active_.fetch_add(1, std::memory_order_relaxed) >= limits.max_connections) {
    active_.fetch_sub(1, std::memory_order_relaxed);
    return admission::over_max;
  }
  if (limits.max_connections_per_ip != 0) {
    std::lock_guard lock(per_ip_mutex_);
    auto& count = per_ip_[client_ip];
    if (count >= limits.max_connections_per_ip) {
      if (count == 0) per_ip_.erase(client_ip);
      active_.fetch_sub(1, std::memory_order_relaxed);
      return admission::over_per_ip;
    }
    ++count;
  }
  return admission::admitted;
}

void listener_state::release(const std::string& client_ip) {
  if (listener_.limits.max_connections_per_ip != 0) {
    std::lock_guard lock(per_ip_mutex_);
    const auto it = per_ip_.find(client_ip);
    if (it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
  }
  active_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace bulwark::proxy
