// A field the gateway sets on a message (the request id, RateLimit, the
// identity the auth phase established). Phases add them to the request's
// context; proxy/headers.h writes them out in place of the other side's.
#pragma once

#include <string_view>

namespace bulwark::http {

// A field the gateway sets on a message: it replaces every field of the same
// name the other side sent. Both parts are views, of text that outlives the
// message being written: constants, the configuration and the pipeline (held
// for the whole request), or text the request's context keeps
// (request_context::request_id, request_context::texts).
struct gateway_field {
  std::string_view name;
  std::string_view value;
};

}  // namespace bulwark::http
