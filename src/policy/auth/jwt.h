// JWT verification (RFC 7519 over compact JWS, RFC 7515), without HTTP: the
// auth phase hands in the bearer token, the current key set and the time, and
// gets back either the verified claims or an error fit for
// `WWW-Authenticate: Bearer error="invalid_token", error_description="..."`.
//
// The rules, in the order they are applied:
// - at most max_token_bytes; exactly three base64url parts (canonical, no
//   padding); header and payload are JSON objects nested at most
//   max_json_depth deep;
// - header `alg` must be one of the configured algorithms. `none` and any
//   other name are refused, as is a non-empty `crit` (we understand no
//   extension). `jku`, `x5u`, `jwk` and `x5c` are ignored: keys come only
//   from the JWKS file, never from the token;
// - the key: a key of the alg's family only (HS256 -> oct, RS256 -> RSA,
//   ES256 -> EC P-256), so an RSA public key can never serve as an HMAC
//   secret (algorithm confusion). When the token has a `kid`, keys with
//   another kid are passed over; keys without a kid stay candidates (as in
//   Envoy's jwt_authn). Each candidate is tried until one verifies;
// - the signature: HS256 32 bytes compared in constant time, ES256 the raw
//   64-byte R||S of RFC 7518 §3.4 (DER is refused), RS256 PKCS#1 v1.5;
// - only then the claims: `exp` (optional, as in Envoy) and `nbf` with the
//   configured leeway; `iss` equal to the configured issuer when one is set;
//   `aud` (string or array) naming one configured audience when any is set;
//   `sub`, when present, a string.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "policy/auth/jwks.h"

namespace bulwark::policy::auth {

enum class token_error {
  too_large,
  malformed,           // not a compact JWS, bad base64url or JSON, a claim of the wrong type
  algorithm_refused,   // alg none, unknown or not configured
  unsupported_header,  // crit names an extension
  no_matching_key,     // no key of the alg's family (and kid)
  bad_signature,
  expired,
  not_yet_valid,
  wrong_issuer,
  wrong_audience,
};

// Short snake_case name for logs and metric labels ("bad_signature").
std::string_view to_string(token_error code) noexcept;

struct verify_error {
  token_error code = token_error::malformed;
  // Constant text (static storage) made of letters, digits, spaces and
  // `_-.,:()`: safe inside a quoted-string, and it names the rule, never the
  // token's content.
  std::string_view message;
};

class verified_token {
 public:
  const std::string& subject() const noexcept { return subject_; }  // "" without `sub`
  config::jwt_algorithm algorithm() const noexcept { return algorithm_; }
  const std::string& key_id() const noexcept { return key_id_; }  // the header's kid, "" without
  // `exp`, when the token has one (a WebSocket may be closed then).
  std::optional<std::chrono::system_clock::time_point> expires_at() const noexcept { return expires_at_; }

  // The union of `scope` (space-separated, RFC 8693 §4.2), `scp` and `scopes`
  // (each a space-separated string or an array of strings), first occurrence
  // kept, duplicates dropped.
  const std::vector<std::string>& scopes() const noexcept { return scopes_; }
  bool has_scope(std::string_view scope) const noexcept;
  // The first of `required` the token lacks; nullopt when it has them all.
  std::optional<std::string_view> missing_scope(const std::vector<std::string>& required) const noexcept;

  // A top-level claim as rate-limit key text (`jwt:<claim>`): a string
  // verbatim, an integer in decimal, another number as JSON writes it, a
  // boolean as true/false. nullopt when absent, null, an array or an object.
  std::optional<std::string_view> claim(std::string_view name) const noexcept;

 private:
  friend class jwt_verifier;
  std::string subject_;
  config::jwt_algorithm algorithm_ = config::jwt_algorithm::rs256;
  std::string key_id_;
  std::optional<std::chrono::system_clock::time_point> expires_at_;
  std::vector<std::string> scopes_;
  std::vector<std::pair<std::string, std::string>> claims_;  // sorted by name
};

struct verify_result {
  std::optional<verified_token> token;  // set when the token verified
  verify_error error;                   // meaningful when token is empty
  bool ok() const noexcept { return token.has_value(); }
};

class jwt_verifier {
 public:
  static constexpr std::size_t max_token_bytes = 8 * 1024;
  static constexpr int max_json_depth = 16;

  explicit jwt_verifier(config::jwt_settings settings);

  // `keys` is passed per call, like `now`: the caller holds the snapshot it
  // took from jwks_file::current(), so a reload never changes the keys in the
  // middle of one verification and the verifier itself stays immutable.
  // Thread-safe; no exceptions on bad input.
  verify_result verify(std::string_view token, const key_set& keys,
                       std::chrono::system_clock::time_point now) const;

  const config::jwt_settings& settings() const noexcept { return settings_; }

 private:
  config::jwt_settings settings_;
};

// Challenge values for the WWW-Authenticate header (RFC 6750 §3).
std::string invalid_token_challenge(const verify_error& error);
// `scope` lists the required scopes; characters a scope token may not hold
// (RFC 6749 §3.3: quote, backslash, controls) are dropped.
std::string insufficient_scope_challenge(const std::vector<std::string>& required);

}  // namespace bulwark::policy::auth
