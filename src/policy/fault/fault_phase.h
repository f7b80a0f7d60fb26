// Fault injection (DESIGN.md `routes[].fault`): for chaos testing in staging,
// a share of a route's requests is delayed, and a share is answered with an
// error status, before anything is sent upstream. Runs as the last request
// phase, so auth and rate limits still see every request, as they would see
// real traffic.
#pragma once

#include "phase/request_phase.h"

namespace bulwark::policy {

class fault_phase final : public phase::request_phase {
 public:
  std::string_view name() const override { return "fault"; }
  phase::phase_result on_request(phase::request_context& ctx) override;
  http::awaitable<phase::phase_result> finish(phase::request_context& ctx) override;

 private:
  static phase::phase_result maybe_abort(phase::request_context& ctx);
};

// Whether a request falls in `percent` (0..100) of requests, from a uniform
// draw in [0, 1). Separate from the phase so the arithmetic is tested alone.
inline bool falls_in(double percent, double unit_draw) { return unit_draw * 100.0 < percent; }

}  // namespace bulwark::policy
