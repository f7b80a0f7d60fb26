// Active health checks (DESIGN.md `upstreams[].health_check`): every
// `interval`, each endpoint of each checked upstream gets
//
//   GET <path> HTTP/1.1
//   Host: <settings.host, or the endpoint's ip:port>
//   Connection: close
//   User-Agent: bulwark-health-check
//
// on a fresh connection, and the result goes to the upstream's endpoint_health
// (record_probe). A probe passes on any 2xx status (Envoy wants exactly 200;
// 204 from a health endpoint is common enough that refusing it would surprise).
// Anything else fails it: another status, a refused or reset connection, a
// malformed response, or no response header within `timeout` (which bounds the
// whole probe: connect, write and read). Only the status line and header are
// read; the connection is closed right after.
//
// The checker owns one thread with its own io_context: probes never run on a
// worker, so a slow or black-holed endpoint cannot delay a request, and a busy
// worker cannot delay a probe into a false failure. The first probe of an
// endpoint goes out at once; later ones every `interval` after the previous
// one started (a probe that takes longer than `interval` delays the next).
//
// update() replaces the whole set of targets (start and every reload): a
// target whose endpoint_health object, endpoints and settings are unchanged
// keeps its probe loops and cadence; the others are stopped (an in-flight probe
// finishes within its timeout, its result dropped) and new ones started.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "proxy/endpoint_health.h"
#include "proxy/vocabulary.h"

namespace bulwark::proxy {

struct health_target {
  std::string upstream;  // for log lines
  std::vector<tcp::endpoint> endpoints;  // index i is endpoint i of `health`
  config::health_check_settings settings;
  std::shared_ptr<endpoint_health> health;
};

class health_checker {
 public:
  health_checker();
  ~health_checker();  // stop()
  health_checker(const health_checker&) = delete;
  health_checker& operator=(const health_checker&) = delete;

  // Replaces the targets; returns once the change is in effect on the
  // checker's thread (started on first use). Targets with a null `health` or
  // no endpoints are ignored. Call from one thread at a time (the main thread).
  void update(std::vector<health_target> targets);
  // Stops every probe and joins the thread; idempotent. update() after stop()
  // does nothing.
  void stop();

  // Probe loops started since construction (a kept target starts none).
  std::uint64_t loops_started_for_test() const;
  // Probes completed (results recorded) since construction.
  std::uint64_t probes_for_test() const;

 private:
  struct target_state;
  struct shared;

  awaitable<void> run_loop(std::shared_ptr<target_state> target, std::size_t endpoint);
  void apply(std::vector<health_target> targets);

  std::mutex mutex_;  // update()/stop() against each other
  std::shared_ptr<shared> shared_;
  std::unique_ptr<net::io_context> context_;
  std::optional<std::thread> thread_;
  std::vector<std::shared_ptr<target_state>> running_;  // touched on the checker's thread only
  bool stopped_ = false;
};

// One probe, with `settings.timeout` for all of it; true when the answer is 2xx.
// Exposed for tests.
awaitable<bool> probe_endpoint(tcp::endpoint endpoint, config::health_check_settings settings);

}  // namespace bulwark::proxy
