// The request phases (DESIGN.md §1): request id, route, auth, rate limit,
// fault injection, and later cache lookup. Each phase has one narrow
// interface: it continues, answers the request itself by filling
// `ctx.answer`, or says it must wait (for time, or I/O such as a shared
// cache) and finishes in a coroutine. After the phases the session forwards
// the request upstream (forwarder.h); on the way back each phase sees the
// response header in reverse order.
//
// Deciding is a plain call because nearly every phase decides from memory:
// a coroutine per phase per request (a frame allocated, a resumption through
// Asio) cost more than the decisions themselves. Envoy's filters have the
// same shape: continue, or stop and resume later.
//
// A pipeline is built once per configuration snapshot and shared by all
// workers, so phases hold only immutable configuration; per-request state
// lives in request_context, per-thread state in thread_local members.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "observe/gateway_metrics.h"
#include "proxy/carried_state.h"
#include "proxy/context.h"
#include "proxy/resilience.h"
#include "proxy/router.h"

namespace bulwark::proxy {

// `wait`: the phase must wait before it decides; the pipeline then co_awaits
// its finish().
enum class phase_result { proceed, respond, wait };

class request_phase {
 public:
  virtual ~request_phase() = default;
  virtual std::string_view name() const = 0;
  virtual phase_result on_request(request_context& ctx) = 0;
  // The rest of a phase whose on_request returned wait: proceed or respond.
  virtual awaitable<phase_result> finish(request_context&) { co_return phase_result::proceed; }
  // The upstream response header, before it is written to the client; a
  // field the phase sets goes in ctx.response_headers.
  virtual void on_response(request_context&, const response_head&) {}
};

// What phases are built with: metric handles, the state carried over from the
// previous snapshot, and a place to report why the configuration cannot run
// (an unreadable JWKS file, say), which rejects the reload.
struct phase_build_context {
  const observe::gateway_metrics* metrics;  // null: no metrics (unit tests)
  carried_state::generation& states;
  std::vector<std::string>& problems;
};

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
