// The health of one upstream's endpoints (DESIGN.md `health_check`,
// `outlier_detection`): what the active checker (health_checker.h) and the
// passive outlier detector (core/outlier_detector.h) say, combined into one
// answer per endpoint: may a request go there now?
//
// One instance per upstream, shared by every worker and by the health checker;
// it is carried across reloads (phase/carried_state.h) while the upstream's endpoints
// and health settings are unchanged. No Asio here: it is a pure state holder,
// unit-tested with a manual clock.
//
// Active checks start *healthy*: a fresh gateway (or a reloaded upstream)
// serves at once instead of refusing everything until `healthy_after` probes
// have passed, and a dead endpoint is found after `unhealthy_after` probes
// (meanwhile outlier detection, if configured, catches it from real traffic).
// Envoy starts hosts unhealthy unless told otherwise; for a gateway whose
// config can be reloaded at any moment, optimistic is the safer default. A
// healthy endpoint becomes unhealthy after `unhealthy_after` consecutive failed
// probes, and healthy again after `healthy_after` consecutive passed ones.
//
// usable() is false when an endpoint is actively unhealthy or ejected. There is
// no panic mode: when nothing is usable, the proxy answers 503 "no healthy
// endpoint" (DESIGN.md §6) instead of trying endpoints known to be down.
//
// Concurrency: one atomic word per endpoint for the active state (a CAS loop;
// probes of one endpoint come from the checker's single thread, so it never
// really spins), and the outlier detector's own lock-free words. usable() is
// two relaxed loads.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <nlohmann/json_fwd.hpp>

#include "config/config.h"
#include "core/clock.h"
#include "core/outlier_detector.h"

namespace bulwark::proxy {

// What record_probe() changed, for the checker's log lines.
enum class probe_transition { none, became_unhealthy, became_healthy };

class endpoint_health {
 public:
  endpoint_health(std::size_t endpoint_count, std::optional<config::health_check_settings> active,
                  std::optional<config::outlier_detection_settings> outliers);
  endpoint_health(const endpoint_health&) = delete;
  endpoint_health& operator=(const endpoint_health&) = delete;

  // May a request go to this endpoint now? (not failed by active checks, not ejected)
  bool usable(std::size_t endpoint, core::time_point now) const;
  // Passive: the outcome of a real request's try (failure = connect failure,
  // reset, timeout, 5xx). Does nothing without outlier detection.
  core::outlier_event record(std::size_t endpoint, bool failure, core::time_point now);
  // Active: a probe's result. Does nothing without an active check.
  probe_transition record_probe(std::size_t endpoint, bool passed);

  std::size_t usable_count(core::time_point now) const;
  std::size_t size() const { return size_; }

  // The active checks' verdict (true without active checks).
  bool healthy(std::size_t endpoint) const;
  bool ejected(std::size_t endpoint, core::time_point now) const;

  // For /admin/status: an array, per endpoint
  // {"healthy": bool (active), "ejected": bool, "ejected_for_ms": n, "consecutive_failures": n}.
  nlohmann::json status(core::time_point now) const;
  std::uint64_t ejections_total() const;  // for a metric

  bool has_active_checks() const { return active_.has_value(); }
  bool has_outlier_detection() const { return outliers_ != nullptr; }

 private:
  // The active word: [unhealthy: bit 31 | run: 31 bits], where `run` counts
  // the consecutive probes that disagree with the current state.
  static constexpr std::uint32_t unhealthy_bit = std::uint32_t{1} << 31;

  const std::size_t size_;
  const std::optional<config::health_check_settings> active_;
  std::unique_ptr<std::atomic<std::uint32_t>[]> active_words_;
  std::unique_ptr<core::outlier_detector> outliers_;
};

// The core detector's settings for a configured `outlier_detection`.
core::outlier_settings to_core(const config::outlier_detection_settings& settings);

}  // namespace bulwark::proxy
