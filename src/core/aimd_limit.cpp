#include "core/aimd_limit.h"

#include <algorithm>

namespace bulwark::core {
namespace {

aimd_config normalized(aimd_config config) {
  config.min_limit = std::max<std::size_t>(1, config.min_limit);
  config.max_limit = std::max(config.max_limit, config.min_limit);
  config.initial_limit = std::clamp(config.initial_limit, config.min_limit, config.max_limit);
  config.backoff_ratio = std::clamp(config.backoff_ratio, 0.0, 1.0);
  return config;
}

}  // namespace

aimd_limit::aimd_limit(const aimd_config& config)
    : adaptive_limit(normalized(config).initial_limit), config_(normalized(config)) {}

std::size_t aimd_limit::next_limit(std::size_t current, duration rtt, std::size_t inflight,
                                   bool dropped) const {
  std::size_t next = current;
  if (dropped || rtt > config_.timeout) {
    next = static_cast<std::size_t>(static_cast<double>(current) * config_.backoff_ratio);
  } else if (inflight * 2 >= current) {
    next = current + 1;
  }
  return std::clamp(next, config_.min_limit, config_.max_limit);
}

void aimd_limit::on_sample(time_point, duration rtt, std::size_t inflight, bool dropped) {
  std::size_t current = limit_.load(std::memory_order_relaxed);
  std::size_t next;
  do {
    next = next_limit(current, rtt, inflight, dropped);
    if (next == current) return;
  } while (!limit_.compare_exchange_weak(current, next, std::memory_order_relaxed));
}

}  // namespace bulwark::core
