// The per-request context (STYLE.md "The request path is a fixed set of
// phases"): every phase reads and writes the request through it. Per-request
// state lives here, never in the (shared, immutable) configuration; permits
// that later phases take (breaker, concurrency) are RAII members, so they are
// released on every path.
#pragma once

#include <array>
#include <cstring>
#include <map>
#include <memory_resource>
#include <optional>
#include <string>
#include <string_view>

#include <boost/container/small_vector.hpp>

#include "config/config.h"
#include "core/units.h"
#include "http/gateway_field.h"
#include "http/message_head.h"
#include "http/problem.h"
#include "observe/request_id.h"

namespace bulwark::phase {

// Fields the gateway sets on a message, kept inline for the usual few (the
// request id, RateLimit-Policy, RateLimit): no allocation for the list.
using field_list = boost::container::small_vector<http::gateway_field, 3>;

// Copies of text kept for one request, for gateway fields whose values a phase
// makes per request (RateLimit, say): the first 256 bytes inline, so the usual
// request allocates nothing for them.
class text_store {
 public:
  text_store() noexcept {}  // user-provided: the inline bytes are not zeroed
  text_store(const text_store&) = delete;
  text_store& operator=(const text_store&) = delete;

  // A view of a copy of `text`, valid until the store is destroyed.
  std::string_view keep(std::string_view text) {
    if (text.empty()) return {};
    auto* copy = static_cast<char*>(arena_.allocate(text.size(), 1));
    std::memcpy(copy, text.data(), text.size());
    return {copy, text.size()};
  }

 private:
  std::array<std::byte, 256> inline_;
  std::pmr::monotonic_buffer_resource arena_{inline_.data(), inline_.size()};
};

// A new request id (observe::make_request_id), kept in `texts`.
inline std::string_view make_request_id(text_store& texts) {
  char made[observe::made_request_id_length];
  observe::make_request_id(made);
  return texts.keep({made, sizeof made});
}

struct request_context {
  const config::gateway_config& config;
  const config::listener& listener;
  http::request_head& request;  // phases may remove fields; the body streams later
  std::string client_ip;
  core::time_point start;
  std::size_t thread = 0;  // the worker's index, for per-thread metric slots

  // Set once, by the request id phase (or the gateway's refusal before it):
  // a view of the request's text (an id the client sent), of `texts` (one
  // the gateway made), or of a constant in tests.
  std::string_view request_id;
  const config::route* route = nullptr;
  core::time_point deadline{};  // the route's timeout, from `start`

  std::optional<http::local_response> answer;  // set by a phase that answers the request itself
  std::optional<http::error_source> error;  // unset: no error

  // The identity the auth phase established; rate limits keyed by `api_key`
  // and `jwt:<claim>` apply only when it is there (policy/ratelimit).
  std::string auth_key_id;  // the accepted API key's id; empty: none
  // That key's rate override (store::key_identity::rate), applied by the rate
  // limits keyed by `api_key`; nullopt: none.
  std::optional<core::rate> auth_key_rate;
  std::map<std::string, std::string, std::less<>> jwt_claims;  // a verified JWT's claims, as text
  // Fields the upstream request carries in place of the client's of the
  // same names: the request id, when the gateway made it, and the identity
  // the auth phase established.
  field_list upstream_headers;
  // Fields every response to this request carries, whoever makes it (the
  // upstream or the gateway): the request id, RateLimit-Policy and
  // RateLimit, say. They replace the upstream's fields of the same names.
  field_list response_headers;
  // The text of those fields that no longer-lived object holds.
  text_store texts;
  // The rate-limit decision for the access log: "allow" or "deny"; unset when
  // no rate limit applied.
  std::optional<std::string> ratelimit;
  // How the auth phase let the request in, for the access log: "api_key",
  // "jwt", "anonymous", or "denied"; unset on a route without auth.
  std::optional<std::string> auth;
};

}  // namespace bulwark::phase
