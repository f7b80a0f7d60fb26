// The phases every pipeline starts with: request id, then route.
#pragma once

#include "proxy/pipeline.h"

namespace bulwark::proxy {

// Keeps a sane client-sent id (DESIGN.md §6), or makes one; either way the
// upstream request and the response carry it.
class request_id_phase final : public request_phase {
 public:
  explicit request_id_phase(std::string header_name) : header_(std::move(header_name)) {}
  std::string_view name() const override { return "request_id"; }
  phase_result on_request(request_context& ctx) override;

 private:
  std::string header_;
};

// Picks the route (first match in file order); 404 problem+json when none.
class route_phase final : public request_phase {
 public:
  explicit route_phase(const std::vector<config::route>& routes) : router_(routes) {}
  std::string_view name() const override { return "route"; }
  phase_result on_request(request_context& ctx) override;

 private:
  router router_;
};

}  // namespace bulwark::proxy
