// The pipeline of one configuration snapshot: it builds the phases
// (src/phase/request_phase.h says what a phase is; they live in src/policy
// and phases.h), runs them in order for each request, and holds the metric
// handles and the resilience policies (breakers, concurrency limits, retry
// budgets) of that snapshot. Built once per snapshot and shared by all
// workers.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "observe/gateway_metrics.h"
#include "phase/request_phase.h"
#include "proxy/resilience.h"
#include "proxy/router.h"
#include "proxy/vocabulary.h"

namespace bulwark::proxy {

using phase::phase_build_context;
using phase::phase_result;
using phase::request_context;
using phase::request_phase;

class pipeline {
 public:
  // Check build.problems afterwards: a pipeline with problems must not run.
  pipeline(std::shared_ptr<const config::gateway_config> config, phase_build_context& build);

  const config::gateway_config& config() const { return *config_; }

  // Metric handles of this configuration, or null without metrics. Routes are
  // counted per listener; `route_index` npos means "no route matched".
  static constexpr std::size_t no_route = static_cast<std::size_t>(-1);
  const observe::route_metrics* route_metrics(std::size_t listener_index,
                                              std::size_t route_index) const;
  const observe::upstream_metrics* upstream_metrics(std::size_t upstream_index) const;
  std::size_t listener_index(std::string_view name) const;
  std::shared_ptr<const config::gateway_config> config_ptr() const { return config_; }
  // Breakers, concurrency limits, endpoint health and retry budgets, by the
  // index of their upstream or route in the configuration.
  const upstream_resilience& upstream_policies(std::size_t upstream_index) const {
    return upstream_resilience_[upstream_index];
  }
  const route_resilience& route_policies(std::size_t route_index) const {
    return route_resilience_[route_index];
  }

  // Runs the phases in order from `next`, until one answers (respond) or
  // must wait (wait, with `next` at that phase), or all let the request
  // through (proceed).
  phase_result run_request_phases(request_context& ctx, std::size_t& next) const;
  // Finishes the phase `next` waits in, then runs the following ones as
  // run_request_phases does.
  awaitable<phase_result> finish_waiting_phase(request_context& ctx, std::size_t& next) const;
  void run_response_phases(request_context& ctx, const response_head& response) const;

 private:
  std::shared_ptr<const config::gateway_config> config_;
  std::vector<std::unique_ptr<request_phase>> phases_;
  // [listener][route], the last column for requests that matched no route.
  std::vector<std::vector<observe::route_metrics>> route_metrics_;
  std::vector<observe::upstream_metrics> upstream_metrics_;
  std::vector<upstream_resilience> upstream_resilience_;
  std::vector<route_resilience> route_resilience_;
};

}  // namespace bulwark::proxy
