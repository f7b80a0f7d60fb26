// What a request phase is (DESIGN.md §1): request id, route, auth, rate
// limit, fault injection, and later cache lookup. Each phase has one narrow
// interface: it continues, answers the request itself by filling
// `ctx.answer`, or says it must wait (for time, or I/O such as a shared
// cache) and finishes in a coroutine. After the phases the session forwards
// the request upstream; on the way back each phase sees the response header
// in reverse order. The pipeline that runs them is src/proxy/pipeline.h.
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

#include <string>
#include <string_view>
#include <vector>

#include "core/leased_bucket.h"
#include "http/message_head.h"
#include "http/net.h"
#include "observe/gateway_metrics.h"
#include "phase/carried_state.h"
#include "phase/context.h"

namespace bulwark::phase {

// `wait`: the phase must wait before it decides; the pipeline then co_awaits
// its finish().
enum class phase_result { proceed, respond, wait };

class request_phase {
 public:
  virtual ~request_phase() = default;
  virtual std::string_view name() const = 0;
  virtual phase_result on_request(request_context& ctx) = 0;
  // The rest of a phase whose on_request returned wait: proceed or respond.
  virtual http::awaitable<phase_result> finish(request_context&) {
    co_return phase_result::proceed;
  }
  // The upstream response header, before it is written to the client; a
  // field the phase sets goes in ctx.response_headers.
  virtual void on_response(request_context&, const http::response_head&) {}
};

// What phases are built with: metric handles, the state carried over from the
// previous snapshot, and a place to report why the configuration cannot run
// (an unreadable JWKS file, say), which rejects the reload.
struct phase_build_context {
  const observe::gateway_metrics* metrics;  // null: no metrics (unit tests)
  carried_state::generation& states;
  std::vector<std::string>& problems;
  // The pools of cluster-scope rate limits (core/leased_bucket.h), which the
  // cluster thread must be given; phases with such policies add theirs.
  std::vector<std::shared_ptr<core::lease_pool>> lease_pools = {};
};

}  // namespace bulwark::phase
