#include "policy/fault/fault_phase.h"

#include <random>

namespace bulwark::policy {
namespace {

double unit_draw() {
  thread_local std::minstd_rand random{std::random_device{}()};
  return std::generate_canonical<double, 32>(random);
}

}  // namespace

// A delayed request waits in finish(), which then draws for the abort;
// the others draw for it at once.
phase::phase_result fault_phase::on_request(phase::request_context& ctx) {
  if (ctx.route == nullptr || !ctx.route->fault) return phase::phase_result::proceed;
  const auto& fault = *ctx.route->fault;
  if (fault.delay_percent > 0 && falls_in(fault.delay_percent, unit_draw())) {
    return phase::phase_result::wait;
  }
  return maybe_abort(ctx);
}

http::awaitable<phase::phase_result> fault_phase::finish(phase::request_context& ctx) {
  http::steady_timer timer(co_await http::net::this_coro::executor);
  timer.expires_after(ctx.route->fault->delay);
  co_await timer.async_wait(http::use_nothrow);
  co_return maybe_abort(ctx);
}

phase::phase_result fault_phase::maybe_abort(phase::request_context& ctx) {
  const auto& fault = *ctx.route->fault;
  if (fault.abort_percent > 0 && falls_in(fault.abort_percent, unit_draw())) {
    ctx.error = http::error_source::gateway;
    ctx.answer = http::problem(fault.abort_status, "fault injected by the route's fault.abort",
                                ctx.request_id);
    return phase::phase_result::respond;
  }
  return phase::phase_result::proceed;
}

}  // namespace bulwark::policy
