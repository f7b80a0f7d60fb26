// Responses the gateway itself produces (DESIGN.md §6): always
// application/problem+json (RFC 9457) with the request id in the body.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "observe/access_log.h"

namespace bulwark::http {

// Where an error came from (client, upstream, gateway); the status code and
// (later) the retry decision follow from it, as in Pingora's fail_to_proxy.
using observe::error_source;

// A complete response made by the gateway instead of the upstream.
struct local_response {
  unsigned status = 500;
  std::string request_id;  // sent in the request id header
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields, e.g. Retry-After
  bool close_connection = false;
};

// A problem+json response: {"type","title","status","detail","request_id"}.
// The title is the standard reason phrase of `status`.
local_response problem(unsigned status, std::string_view detail, std::string_view request_id);

// A problem response that also carries Retry-After (whole seconds, at least 1).
local_response problem_retry_after(unsigned status, std::string_view detail,
                                   std::string_view request_id, unsigned retry_after_seconds);

}  // namespace bulwark::http
