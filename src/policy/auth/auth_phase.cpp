#include "policy/auth/auth_phase.h"

#include <algorithm>
#include <utility>

#include "http/strings.h"
#include "observe/log.h"

namespace bulwark::policy::auth {
namespace {

using config::auth_mode;
using wall_clock = std::chrono::system_clock;

constexpr std::string_view bearer_scheme = "Bearer";
constexpr std::string_view api_key_marker = "bwk_";

// The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC
// 9110 §11.1), or nullopt for another scheme. An empty token is returned as
// such: it is a (malformed) credential, not an absent one.
std::optional<std::string_view> bearer_token(std::string_view value) {
  if (value.size() < bearer_scheme.size() ||
      !http::iequals(value.substr(0, bearer_scheme.size()), bearer_scheme)) {
    return std::nullopt;
  }
  auto rest = value.substr(bearer_scheme.size());
  if (!rest.empty() && rest.front() != ' ' && rest.front() != '\t') return std::nullopt;  // "Bearerx"
  return http::trim_ows(rest);
}

// Whether a field called `name` is the configured field `configured` (field
// names are case-insensitive, RFC 9110 §5.1); an empty `configured` names none.
bool is_named(std::string_view name, std::string_view configured) {
  // Clients mostly write a name as configured: an exact comparison first.
  return name.size() == configured.size() && !configured.empty() &&
         (name == configured || http::iequals(name, configured));
}

// Whether `value` may go into a header field as is: no CR, LF, NUL or other
// control character (a JWT's `sub` is attacker-chosen JSON text, and a line
// break in it would inject fields into the upstream request).
bool header_safe(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte == '\t' || (byte >= 0x20 && byte != 0x7f);
  });
}

std::string join(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& scope : scopes) {
    if (!out.empty()) out += ' ';
    out += scope;
  }
  return out;
}

std::string_view key_failure_description(store::key_failure failure) {
  switch (failure) {
    case store::key_failure::malformed: return "API key malformed";
    case store::key_failure::revoked: return "API key revoked";
    case store::key_failure::expired: return "API key expired";
    case store::key_failure::none:
    case store::key_failure::unknown: break;
  }
  return "API key unknown";
}

std::string quoted(std::string_view text) {
  std::string out = "\"";
  out += text;
  out += '"';
  return out;
}

std::string bearer_challenge() {
  std::string out(bearer_scheme);
  out += " realm=";
  out += quoted(realm);
  return out;
}

std::string api_key_challenge(std::string_view header) {
  std::string out = "ApiKey realm=";
  out += quoted(realm);
  out += ", header=";
  out += quoted(header);
  return out;
}

http::local_response refusal(unsigned status, std::string_view detail,
                              const phase::request_context& ctx,
                              std::vector<std::string> challenges) {
  auto answer = http::problem(status, detail, ctx.request_id);
  for (auto& challenge : challenges) answer.headers.emplace_back("WWW-Authenticate", std::move(challenge));
  return answer;
}

}  // namespace

auth_phase::auth_phase(const config::gateway_config& config, phase::phase_build_context& build,
                       const key_store_opener& open_store) {
  prepare_routes(config);
  if (const auto& keys = config.auth.api_keys) {
    api_key_header_ = keys->header;
    bool opened_now = false;
    std::string error;
    const std::string name = key_store_name(config);
    // Keyed by the store alone: a change of `header` keeps the cache and its
    // watcher; a change of the Redis settings opens the store afresh.
    struct store_settings {
      std::string name;
      std::optional<config::redis_settings> redis;
      bool operator==(const store_settings&) const = default;
    };
    store_settings settings{name, std::nullopt};
    if (keys->store == config::key_store_kind::redis && config.cluster) settings.redis = config.cluster->redis;
    api_keys_ = build.states.obtain<api_key_source>(
        "api_keys", name, settings, [&]() -> std::shared_ptr<api_key_source> {
          opened_now = true;
          auto store = open_store(config);
          if (!store.ok()) {
            error = std::move(store.error.message);
            return nullptr;
          }
          auto opened = api_key_source::open(std::move(*store.value), name);
          error = std::move(opened.error);
          return std::move(opened.source);
        });
    if (api_keys_ && !opened_now) {
      // Kept from the previous snapshot: a reload re-reads the store at once
      // rather than waiting for the watcher.
      if (auto refreshed = api_keys_->cache()->refresh(); !refreshed.ok()) {
        if (refreshed.error.code == store::store_errc::unavailable) {
          // Redis down: the reload goes on with the snapshot the cache holds,
          // as every request does meanwhile (no lockout); the watcher says so.
          observe::log(observe::log_level::warn, "api keys not re-read on reload; serving the last snapshot",
                       {{"store", name}, {"error", refreshed.error.message}});
        } else {
          error = std::move(refreshed.error.message);
        }
      }
    }
    if (!api_keys_ || !error.empty()) {
      std::string problem =
          keys->store == config::key_store_kind::redis ? "auth.api_keys.store: redis " : "auth.api_keys.db: ";
      problem += keys->store == config::key_store_kind::redis ? name.substr(std::string_view("redis://").size())
                                                               : keys->db;
      problem += ": ";
      problem += error.empty() ? std::string("cannot be opened") : error;
      build.problems.push_back(std::move(problem));
    }
  }
  if (const auto& jwt = config.auth.jwt) {
    verifier_.emplace(*jwt);
    bool opened_now = false;
    std::vector<std::string> errors;
    jwks_ = build.states.obtain<jwks_source>(
        "jwks", jwt->jwks_file, jwt->jwks_file, [&]() -> std::shared_ptr<jwks_source> {
          opened_now = true;
          auto opened = jwks_source::open(jwt->jwks_file);
          errors = std::move(opened.errors);
          return std::move(opened.source);
        });
    if (jwks_ && !opened_now) {
      // A configuration reload re-reads the keys even when the file's identity
      // looks unchanged (SIGHUP after an in-place edit within one mtime tick).
      auto reloaded = jwks_->reload();
      if (reloaded.status == jwks_file::reload_status::failed) errors = std::move(reloaded.errors);
    }
    if (!jwks_ && errors.empty()) errors.push_back(jwt->jwks_file + ": cannot be opened");
    for (const auto& error : errors) build.problems.push_back("auth.jwt.jwks_file: " + error);
  }
}

auth_phase::auth_phase(const config::gateway_config& config,
                       std::shared_ptr<api_key_source> api_keys, std::shared_ptr<jwks_source> jwks)
    : api_keys_(std::move(api_keys)), jwks_(std::move(jwks)) {
  prepare_routes(config);
  if (config.auth.api_keys) api_key_header_ = config.auth.api_keys->header;
  if (config.auth.jwt) verifier_.emplace(*config.auth.jwt);
}

void auth_phase::prepare_routes(const config::gateway_config& config) {
  routes_base_ = config.routes.data();
  for (const auto& route : config.routes) {
    auto& rules = routes_.emplace_back();
    if (!route.auth) continue;
    rules.auth = &*route.auth;
    rules.claims.push_back("sub");
    for (const auto& limit : route.rate_limits) {
      if (limit.key.source != config::limit_key::kind::jwt_claim) continue;
      if (std::find(rules.claims.begin(), rules.claims.end(), limit.key.name) == rules.claims.end()) {
        rules.claims.push_back(limit.key.name);
      }
    }
  }
}

phase::phase_result auth_phase::on_request(phase::request_context& ctx) {
  const auto result = decide(ctx, wall_clock::now());
  if (result == phase::phase_result::respond) ctx.auth = "denied";
  return result;
}

// What a request carries, read in one pass over its fields (views into them).
struct auth_phase::presented_credentials {
  using field_iterator = http::head_fields::const_iterator;

  std::size_t header_keys = 0;               // fields named api_key_header_
  std::optional<std::string_view> header_key;  // the first one's value
  std::size_t authorizations = 0;
  std::optional<std::string_view> bearer;      // the first bearer token that is not a key
  std::optional<std::string_view> bearer_key;  // the first that is
  // The fields of header_key and bearer_key: their text is read while the
  // request is decided, and they are removed right after. Every other field
  // carrying a key is removed during the pass.
  std::optional<field_iterator> header_key_field;
  std::optional<field_iterator> bearer_key_field;
};

phase::phase_result auth_phase::decide(phase::request_context& ctx, wall_clock::time_point now) const {
  if (ctx.route == nullptr) return phase::phase_result::proceed;
  const auto index = static_cast<std::size_t>(ctx.route - routes_base_);
  if (index >= routes_.size() || routes_[index].auth == nullptr) return phase::phase_result::proceed;
  const auto& rules = routes_[index];
  const auto seen = read_credentials(ctx.request, *rules.auth);
  const auto result = judge(ctx, rules, seen, now);
  // Whatever the outcome, a key never reaches an upstream. The later line
  // goes first: removing a line moves the ones after it.
  auto first = seen.header_key_field, second = seen.bearer_key_field;
  if (first && second && *first < *second) std::swap(first, second);
  if (first) ctx.request.erase(*first);
  if (second) ctx.request.erase(*second);
  return result;
}

// One pass over the fields, not a lookup per name: a field whose name has
// another length is passed over at once.
auth_phase::presented_credentials auth_phase::read_credentials(
    http::request_head& request, const config::route_auth& auth) const {
  presented_credentials seen;
  for (auto field = request.begin(); field != request.end();) {
    const auto name = field->name_string();
    const auto value = field->value();
    // The upstream never sees an identity the client claimed for itself.
    if (is_named(name, auth.subject_header) || is_named(name, auth.scopes_header)) {
      field = request.erase(field);
      continue;
    }
    if (is_named(name, api_key_header_)) {
      if (++seen.header_keys > 1) {
        field = request.erase(field);
        continue;
      }
      seen.header_key = value;
      seen.header_key_field = field++;
      continue;
    }
    // Every Authorization field is looked at, so that none carrying a key is
    // forwarded, even on a route that checks nothing.
    if (field->name() == http::field::authorization) {
      ++seen.authorizations;
      const auto token = bearer_token(value);
      if (token && token->starts_with(api_key_marker)) {
        if (seen.bearer_key) {
          field = request.erase(field);
          continue;
        }
        seen.bearer_key = token;
        seen.bearer_key_field = field;
      } else if (token && !seen.bearer) {
        seen.bearer = token;
      }
    }
    ++field;
  }
  return seen;
}

phase::phase_result auth_phase::judge(phase::request_context& ctx, const route_rules& rules,
                                      const presented_credentials& seen,
                                      wall_clock::time_point now) const {
  const config::route_auth& auth = *rules.auth;
  const bool keys_on = auth.api_key != auth_mode::off;
  const bool jwt_on = auth.jwt != auth_mode::off;

  if (seen.header_keys > 1 && keys_on) {
    std::string detail = "more than one ";
    detail += api_key_header_;
    detail += " field";
    ctx.answer = http::problem(400, detail, ctx.request_id);
    return phase::phase_result::respond;
  }
  if (seen.authorizations > 1 && (keys_on || jwt_on)) {
    ctx.answer = http::problem(400, "more than one Authorization field", ctx.request_id);
    return phase::phase_result::respond;
  }
  if (seen.header_key && seen.bearer_key && keys_on) {
    std::string detail = "two API keys: send one, in ";
    detail += api_key_header_;
    detail += " or in Authorization";
    ctx.answer = http::problem(400, detail, ctx.request_id);
    return phase::phase_result::respond;
  }

  // The API key, when the route checks keys and one was sent.
  std::shared_ptr<const store::key_identity> key;
  if (keys_on && (seen.header_key || seen.bearer_key)) {
    const std::string_view presented = seen.header_key ? *seen.header_key : *seen.bearer_key;
    store::verify_result verified;
    verified.failure = store::key_failure::unknown;
    if (api_keys_) verified = api_keys_->cache()->verify(presented, now);
    if (!verified.ok()) {
      const auto description = key_failure_description(verified.failure);
      std::string challenge;
      if (seen.bearer_key) {
        challenge = "Bearer error=\"invalid_token\", error_description=";
      } else {
        challenge = api_key_challenge(api_key_header_);
        challenge += ", error=\"invalid_key\", error_description=";
      }
      challenge += quoted(description);
      std::string detail = "invalid API key: ";
      detail += to_string(verified.failure);
      ctx.answer = refusal(401, detail, ctx, {std::move(challenge)});
      return phase::phase_result::respond;
    }
    key = std::move(verified.identity);
  }

  // The JWT, when the route checks tokens and a bearer token (not a key) was sent.
  std::optional<verified_token> token;
  if (jwt_on && seen.bearer) {
    verify_result verified;
    verified.error = {token_error::no_matching_key, "no signing keys loaded"};
    const auto keys = jwks_ ? jwks_->current() : nullptr;
    if (verifier_ && keys) verified = verifier_->verify(*seen.bearer, *keys, now);
    if (verified.ok() && !header_safe(verified.token->subject())) {
      verified.token.reset();
      verified.error = {token_error::malformed, "sub cannot be sent in a header field"};
    }
    if (!verified.ok()) {
      std::string detail = "invalid token: ";
      detail += verified.error.message;
      ctx.answer = refusal(401, detail, ctx, {invalid_token_challenge(verified.error)});
      return phase::phase_result::respond;
    }
    token = std::move(verified.token);
  }

  if (!key && !token) {
    const bool required = auth.api_key == auth_mode::required || auth.jwt == auth_mode::required ||
                          !auth.scopes.empty();
    if (!required) {
      ctx.auth = "anonymous";
      return phase::phase_result::proceed;
    }
    std::vector<std::string> challenges{bearer_challenge()};
    std::string detail = "credentials required: ";
    if (keys_on) {
      challenges.push_back(api_key_challenge(api_key_header_));
      detail += "an API key in ";
      detail += api_key_header_;
      detail += jwt_on ? ", or a bearer token" : " or as a bearer token";
    } else {
      detail += "a bearer token";
    }
    ctx.answer = refusal(401, detail, ctx, std::move(challenges));
    return phase::phase_result::respond;
  }

  // Rate limits key on every credential that verified, whichever one speaks
  // for the caller upstream.
  if (key) {
    ctx.auth_key_id = key->id;
    ctx.auth_key_rate = key->rate;  // the limits keyed by api_key apply it
  }
  if (token) {
    for (const auto& claim : rules.claims) {
      if (auto value = token->claim(claim)) ctx.jwt_claims.emplace(claim, std::string(*value));
    }
  }

  // The credential that speaks for the caller: the first (JWT, then key) that
  // holds every required scope. Scopes are never pooled across credentials.
  const bool token_fits = token && !token->missing_scope(auth.scopes);
  const bool key_fits =
      key && std::all_of(auth.scopes.begin(), auth.scopes.end(),
                         [&](const std::string& scope) { return key->has_scope(scope); });
  if (!token_fits && !key_fits) {
    std::string missing;
    if (token) {
      missing = std::string(*token->missing_scope(auth.scopes));
    } else {
      for (const auto& scope : auth.scopes) {
        if (!key->has_scope(scope)) {
          missing = scope;
          break;
        }
      }
    }
    std::string detail = "missing scope \"";
    detail += missing;
    detail += '"';
    std::vector<std::string> challenges;
    if (token) challenges.push_back(insufficient_scope_challenge(auth.scopes));
    ctx.answer = refusal(403, detail, ctx, std::move(challenges));
    return phase::phase_result::respond;
  }

  ctx.auth = token_fits ? "jwt" : "api_key";
  const std::string& subject = token_fits ? token->subject() : key->id;
  const auto& scopes = token_fits ? token->scopes() : key->scopes;
  // Gateway fields, written in place of any the client sent (read_credentials
  // also removed those, for the phases after this one).
  if (!auth.subject_header.empty() && !subject.empty()) {
    ctx.upstream_headers.push_back({auth.subject_header, ctx.texts.keep(subject)});
  }
  if (!auth.scopes_header.empty()) {
    const auto joined = join(scopes);
    // Token scopes are the issuer's text; one unfit for a header is not sent.
    if (header_safe(joined)) {
      ctx.upstream_headers.push_back({auth.scopes_header, ctx.texts.keep(joined)});
    }
  }
  return phase::phase_result::proceed;
}

}  // namespace bulwark::policy::auth
