#include "proxy/pipeline.h"

#include "proxy/phases.h"

namespace bulwark::proxy {

pipeline::pipeline(std::shared_ptr<const config::gateway_config> config)
    : config_(std::move(config)) {
  phases_.push_back(std::make_unique<request_id_phase>(config_->observe.request_id_header));
  phases_.push_back(std::make_unique<route_phase>(config_->routes));
}

awaitable<phase_result> pipeline::run_request_phases(request_context& ctx) const {
  for (const auto& phase : phases_) {
    const auto result = co_await phase->on_request(ctx);
    if (result == phase_result::respond) co_return phase_result::respond;
  }
  co_return phase_result::proceed;
}

void pipeline::run_response_phases(request_context& ctx, http::response_header<>& response) const {
  for (auto phase = phases_.rbegin(); phase != phases_.rend(); ++phase) {
    (*phase)->on_response(ctx, response);
  }
}

}  // namespace bulwark::proxy
