#include "proxy/pipeline.h"

#include "cluster/key_store_factory.h"
#include "policy/auth/auth_phase.h"
#include "policy/fault/fault_phase.h"
#include "policy/ratelimit/ratelimit_phase.h"
#include "proxy/phases.h"

namespace bulwark::proxy {

pipeline::pipeline(std::shared_ptr<const config::gateway_config> config,
                   phase_build_context& build)
    : config_(std::move(config)) {
  const auto* metrics = build.metrics;
  for (const auto& upstream : config_->upstreams) {
    upstream_resilience_.push_back(make_upstream_resilience(upstream, build.states));
  }
  for (const auto& route : config_->routes) {
    route_resilience_.push_back(make_route_resilience(route, build.states));
  }
  phases_.push_back(std::make_unique<request_id_phase>(config_->observe.request_id_header));
  phases_.push_back(std::make_unique<route_phase>(config_->routes));
  // The key store may be the cluster's Redis: the factory that knows it is cluster mode's.
  phases_.push_back(std::make_unique<policy::auth::auth_phase>(*config_, build, cluster::open_key_store));
  phases_.push_back(std::make_unique<policy::ratelimit::ratelimit_phase>(*config_, build));
  // Last, right before the upstream, so that auth and limits see injected faults' requests.
  phases_.push_back(std::make_unique<policy::fault_phase>());
  if (metrics == nullptr) return;
  for (const auto& listener : config_->listeners) {
    auto& routes = route_metrics_.emplace_back();
    for (const auto& route : config_->routes) {
      routes.push_back(metrics->for_route(listener.name, route.name));
    }
    routes.push_back(metrics->for_route(listener.name, ""));
  }
  for (const auto& upstream : config_->upstreams) {
    upstream_metrics_.push_back(metrics->for_upstream(upstream.name));
  }
}

std::size_t pipeline::listener_index(std::string_view name) const {
  for (std::size_t i = 0; i < config_->listeners.size(); ++i) {
    if (config_->listeners[i].name == name) return i;
  }
  return no_route;
}

const observe::route_metrics* pipeline::route_metrics(std::size_t listener_index,
                                                      std::size_t route_index) const {
  if (listener_index >= route_metrics_.size()) return nullptr;
  const auto& routes = route_metrics_[listener_index];
  return &routes[std::min(route_index, routes.size() - 1)];
}

const observe::upstream_metrics* pipeline::upstream_metrics(std::size_t upstream_index) const {
  return upstream_index < upstream_metrics_.size() ? &upstream_metrics_[upstream_index] : nullptr;
}

phase_result pipeline::run_request_phases(request_context& ctx, std::size_t& next) const {
  for (; next < phases_.size(); ++next) {
    const auto result = phases_[next]->on_request(ctx);
    if (result != phase_result::proceed) return result;
  }
  return phase_result::proceed;
}

awaitable<phase_result> pipeline::finish_waiting_phase(request_context& ctx,
                                                       std::size_t& next) const {
  const auto finished = co_await phases_[next]->finish(ctx);
  if (finished != phase_result::proceed) co_return finished;
  ++next;
  co_return run_request_phases(ctx, next);
}

void pipeline::run_response_phases(request_context& ctx, const response_head& response) const {
  for (auto phase = phases_.rbegin(); phase != phases_.rend(); ++phase) {
    (*phase)->on_response(ctx, response);
  }
}

}  // namespace bulwark::proxy
