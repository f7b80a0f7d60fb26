// The upstream call (DESIGN.md §1 "pick endpoint ─► send"): takes a pooled
// connection, sends the request with its body streamed from the client,
// reads the response header, lets the phases see it, and streams the
// response back. Each try (`exchange`) is admitted by the breaker and the
// concurrency limit and retried with backoff while the route allows
// (`try_upstream`, rules in resilience.h).
#pragma once

#include <optional>

#include "phase/context.h"
#include "proxy/pipeline.h"
#include "proxy/upstream_pool.h"

namespace bulwark::proxy {

// What the forwarder needs of the downstream connection.
struct client_side {
  tcp_stream& stream;
  beast::flat_buffer& buffer;
  request_parser& parser;
  std::string& head;        // header section buffer, reused from request to request
  core::duration idle_timeout;
  bool keep_alive;  // what the session would like, if the exchange allows it
};

struct forward_result {
  std::optional<local_response> answer;  // set when nothing was written to the client yet
  bool client_reusable = false;          // the client connection may carry another request
  unsigned status = 0;                   // status written to the client (0 if none)
  // For the access log.
  std::string upstream;                  // the route's upstream
  std::string endpoint;                  // the endpoint tried last ("" if none)
  std::optional<double> upstream_ms;     // until the response header arrived
  unsigned attempts = 0;                 // tries that reached an upstream
  uint64_t bytes_in = 0;                 // request body bytes sent upstream
  uint64_t bytes_out = 0;                // response body bytes sent to the client
};

awaitable<forward_result> forward(request_context& ctx, client_side& client,
                                  upstream_pool& pool, const pipeline& phases);

}  // namespace bulwark::proxy
