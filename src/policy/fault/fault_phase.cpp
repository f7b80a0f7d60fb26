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
proxy::phase_result fault_phase::on_request(proxy::request_context& ctx) {
  if (ctx.route == nullptr || !ctx.route->fault) return proxy::phase_result::proceed;
  const auto& fault = *ctx.route->fault;
  if (fault.delay_percent > 0 && falls_in(fault.delay_percent, unit_draw())) {
    return proxy::phase_result::wait;
  }
  return maybe_abort(ctx);
}

proxy::awaitable<proxy::phase_result> fault_phase::finish(proxy::request_context& ctx) {
  proxy::steady_timer timer(co_await proxy::net::this_coro::executor);
  timer.expires_after(ctx.route->fault->delay);
  co_await timer.async_wait(proxy::use_nothrow);
  co_return maybe_abort(ctx);
}

proxy::phase_result fault_phase::maybe_abort(proxy::request_context& ctx) {
  const auto& fault = *ctx.route->fault;
  if (fault.abort_percent > 0 && falls_in(fault.abort_percent, unit_draw())) {
    ctx.error = proxy::error_source::gateway;
    ctx.answer = proxy::problem(fault.abort_status, "fault injected by the route's fault.abort",
                                ctx.request_id);
    return proxy::phase_result::respond;
  }
  return proxy::phase_result::proceed;
}

}  // namespace bulwark::policy
