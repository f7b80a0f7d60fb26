#include "proxy/endpoint_health.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace bulwark::proxy {

core::outlier_settings to_core(const config::outlier_detection_settings& settings) {
  core::outlier_settings core_settings;
  core_settings.consecutive_failures = settings.consecutive_failures;
  core_settings.eject_for = settings.eject_for;
  core_settings.max_ejected = settings.max_ejected;
  return core_settings;
}

endpoint_health::endpoint_health(std::size_t endpoint_count,
                                 std::optional<config::health_check_settings> active,
                                 std::optional<config::outlier_detection_settings> outliers)
    : size_(endpoint_count),
      active_(std::move(active)),
      active_words_(std::make_unique<std::atomic<std::uint32_t>[]>(endpoint_count)) {
  for (std::size_t i = 0; i < size_; ++i) active_words_[i].store(0, std::memory_order_relaxed);
  if (outliers) outliers_ = std::make_unique<core::outlier_detector>(endpoint_count, to_core(*outliers));
}

bool endpoint_health::healthy(std::size_t endpoint) const {
  if (endpoint >= size_) return false;
  return (active_words_[endpoint].load(std::memory_order_relaxed) & unhealthy_bit) == 0;
}

bool endpoint_health::ejected(std::size_t endpoint, core::time_point now) const {
  return outliers_ != nullptr && outliers_->ejected(endpoint, now);
}

bool endpoint_health::usable(std::size_t endpoint, core::time_point now) const {
  return healthy(endpoint) && !ejected(endpoint, now);
}

core::outlier_event endpoint_health::record(std::size_t endpoint, bool failure, core::time_point now) {
  if (outliers_ == nullptr) return core::outlier_event::none;
  return outliers_->record(endpoint, failure, now);
}

probe_transition endpoint_health::record_probe(std::size_t endpoint, bool passed) {
  if (!active_ || endpoint >= size_) return probe_transition::none;
  // Thresholds of 0 (not valid config) behave as 1: one probe decides.
  const std::uint32_t to_unhealthy = std::max<std::uint32_t>(active_->unhealthy_after, 1);
  const std::uint32_t to_healthy = std::max<std::uint32_t>(active_->healthy_after, 1);
  auto& word = active_words_[endpoint];
  std::uint32_t current = word.load(std::memory_order_relaxed);
  for (;;) {
    const bool unhealthy = (current & unhealthy_bit) != 0;
    const std::uint32_t run = current & ~unhealthy_bit;
    std::uint32_t next = 0;
    probe_transition change = probe_transition::none;
    if (unhealthy == !passed) {
      next = current & unhealthy_bit;  // agrees with the state: the contrary run restarts
    } else if (run + 1 >= (unhealthy ? to_healthy : to_unhealthy)) {
      next = unhealthy ? 0 : unhealthy_bit;  // flips, with a fresh run
      change = unhealthy ? probe_transition::became_healthy : probe_transition::became_unhealthy;
    } else {
      next = (current & unhealthy_bit) | (run + 1);
    }
    if (next == current) return change;
    if (word.compare_exchange_weak(current, next, std::memory_order_relaxed)) return change;
  }
}

std::size_t endpoint_health::usable_count(core::time_point now) const {
  std::size_t count = 0;
  for (std::size_t i = 0; i < size_; ++i) {
    if (usable(i, now)) ++count;
  }
  return count;
}

nlohmann::json endpoint_health::status(core::time_point now) const {
  auto endpoints = nlohmann::json::array();
  for (std::size_t i = 0; i < size_; ++i) {
    const auto left = outliers_ ? outliers_->ejected_for(i, now) : core::duration::zero();
    // Rounded up: an endpoint still ejected never shows 0 ms left.
    const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    endpoints.push_back({{"healthy", healthy(i)},
                         {"ejected", ejected(i, now)},
                         {"ejected_for_ms", left_ms},
                         {"consecutive_failures", outliers_ ? outliers_->consecutive_failures(i) : 0}});
  }
  return endpoints;
}

std::uint64_t endpoint_health::ejections_total() const {
  return outliers_ ? outliers_->ejections_total() : 0;
}

}  // namespace bulwark::proxy
