// The auth phase (DESIGN.md §1: route -> auth -> rate limit): who the caller
// is, for routes with an `auth` section.
//
// Credentials:
// - an API key in the `auth.api_keys.header` field (X-API-Key) or as
//   `Authorization: Bearer bwk_...`: a bearer token that starts with `bwk_` is
//   an API key, any other bearer token is a JWT;
// - a JWT in `Authorization: Bearer <token>`.
// A credential whose kind is `off` on the route is not looked at. Two API
// keys (the field and a bearer key, or the field twice) or two Authorization
// fields are refused with 400 rather than guessed at.
//
// Decision, with both kinds counted together when both are on:
// - a credential that is present and checked must be valid, whatever the mode:
//   else 401 with `WWW-Authenticate: Bearer error="invalid_token", ...`
//   (for a key in the API-key header: `ApiKey ..., error="invalid_key"`);
// - when any enabled kind is `required`, at least one valid credential is
//   needed (either kind satisfies): else 401 with a bare challenge per enabled
//   kind (`Bearer realm="bulwark"`, `ApiKey realm="bulwark", header="..."`);
// - a route with `scopes` needs a credential too (an anonymous caller holds no
//   scopes: 401), and one valid credential must hold every scope: else 403
//   (with `Bearer error="insufficient_scope", scope="..."` when a JWT was sent).
//
// Upstream, on every route with an `auth` section, whatever the outcome: the
// client's copies of subject_header and scopes_header are removed, then set to
// the caller's identity (the API key's id, or the JWT's `sub`) and its scopes
// (space-separated); the API-key field and an `Authorization` carrying a `bwk_`
// key are removed, so a key never reaches an upstream. An `Authorization`
// carrying a JWT is forwarded (as Envoy's jwt_authn does by default).
//
// The request path waits on nothing: keys are checked against the in-memory
// cache (api_key_cache::verify), tokens against the JWKS snapshot.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "phase/request_phase.h"
#include "policy/auth/credentials.h"
#include "policy/auth/jwt.h"

namespace bulwark::policy::auth {

// The realm of the challenges this phase sends.
inline constexpr std::string_view realm = "bulwark";

class auth_phase final : public phase::request_phase {
 public:
  // Obtains the key source (auth.api_keys) and the JWKS source (auth.jwt) as
  // carried state, loading the keys once and re-reading the JWKS file (a
  // configuration reload re-reads it); what cannot be opened goes to
  // build.problems ("auth.api_keys.db: ...", "auth.jwt.jwks_file: ...").
  // `open_store` opens the key store the configuration names (the gateway
  // passes cluster::open_key_store, which knows Redis too).
  auth_phase(const config::gateway_config& config, phase::phase_build_context& build,
             const key_store_opener& open_store = open_sqlite_key_store);
  // With sources made by hand (unit tests); either may be null.
  auth_phase(const config::gateway_config& config, std::shared_ptr<api_key_source> api_keys,
             std::shared_ptr<jwks_source> jwks);

  std::string_view name() const override { return "auth"; }
  phase::phase_result on_request(phase::request_context& ctx) override;

  // The decision at wall-clock `now` (expiry of keys and tokens): what
  // on_request does. Sets ctx.auth_key_id and ctx.auth_key_rate (the key's
  // rate override) / ctx.jwt_claims when a credential verified, edits the
  // request's fields, and fills ctx.answer on refusal.
  phase::phase_result decide(phase::request_context& ctx,
                             std::chrono::system_clock::time_point now) const;

 private:
  struct route_rules {
    const config::route_auth* auth = nullptr;  // null: the route has no auth section
    std::vector<std::string> claims;  // JWT claims the route's rate limits key on (`sub` always)
  };
  struct presented_credentials;

  void prepare_routes(const config::gateway_config& config);
  // Removes the identity fields and the key fields decide() does not read,
  // and notes the credentials.
  presented_credentials read_credentials(http::request_head& request,
                                         const config::route_auth& auth) const;
  // decide() once the credentials are read: the answer, or the caller's
  // identity set in ctx and in the request's fields.
  phase::phase_result judge(phase::request_context& ctx, const route_rules& rules,
                            const presented_credentials& seen,
                            std::chrono::system_clock::time_point now) const;

  const config::route* routes_base_ = nullptr;
  std::vector<route_rules> routes_;  // by route index
  std::string api_key_header_;       // empty: no auth.api_keys
  std::shared_ptr<api_key_source> api_keys_;
  std::shared_ptr<jwks_source> jwks_;
  std::optional<jwt_verifier> verifier_;
};

}  // namespace bulwark::policy::auth
