#include "policy/fault/fault_phase.h"

#include <random>

namespace bulwark::policy {
namespace {

double unit_draw() {
  thread_local std::minstd_rand random{std::random_device{}()};
  return std::generate_canonical<double, 32>(random);
}

}  // namespace

proxy::awaitable<proxy::phase_result> fault_phase::on_request(proxy::request_context& ctx) {
  if (ctx.route == nullptr || !ctx.route->fault) co_return proxy::phase_result::proceed;
  const auto& fault = *ctx.route->fault;
  if (fault.delay_percent > 0 && falls_in(fault.delay_percent, unit_draw())) {
    proxy::steady_timer timer(co_await proxy::net::this_coro::executor);
    timer.expires_after(fault.delay);
    co_await timer.async_wait(proxy::use_nothrow);
  }
  if (fault.abort_percent > 0 && falls_in(fault.abort_percent, unit_draw())) {
    ctx.error = proxy::error_source::gateway;
    ctx.answer = proxy::problem(fault.abort_status, "fault injected by the route's fault.abort",
                                ctx.request_id);
    co_return proxy::phase_result::respond;
  }
  co_return proxy::phase_result::proceed;
}

}  // namespace bulwark::policy
