// The auth phase on a real request context: API keys (header and bearer),
// JWTs, the modes, scopes, the identity sent upstream and what is removed
// before forwarding, and building the phase from configuration (carried key
// and JWKS sources, problems for files that cannot be opened).
// Keys live in a hand-filled cache; time is a fixed wall-clock point.
#include "policy/auth/auth_phase.h"

#include "proxy/headers.h"
#include "unit/http/parsed_head.h"

#include <gtest/gtest.h>

#include "unit/temp_dir.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_keys.h"

namespace bulwark::policy::auth {
namespace {

using namespace std::chrono_literals;
using bulwark::test::temp_dir;
using config::auth_mode;
using test::json;
using wall_clock = std::chrono::system_clock;

const wall_clock::time_point now{std::chrono::seconds{1'780'000'000}};
constexpr const char* issuer = "https://issuer.test";

long long unix_seconds(wall_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

config::route auth_route(std::string name, auth_mode api_key, auth_mode jwt,
                         std::vector<std::string> scopes = {}) {
  config::route r;
  r.name = std::move(name);
  r.upstream = "api";
  r.auth = config::route_auth{};
  r.auth->api_key = api_key;
  r.auth->jwt = jwt;
  r.auth->scopes = std::move(scopes);
  r.auth->scopes_header = "X-Auth-Scopes";
  return r;
}


void write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// A key in the cache: its text, and the entry the cache holds.
struct test_key {
  std::string text;
  store::key_entry entry;
};

test_key make_key(std::string name, std::vector<std::string> scopes) {
  const auto generated = store::generate_key();
  if (!generated) throw std::runtime_error("generate_key failed");
  test_key key;
  key.text = generated->text();
  key.entry.id = generated->id;
  key.entry.hash = store::hash_secret(generated->secret);
  key.entry.name = std::move(name);
  key.entry.scopes = std::move(scopes);
  return key;
}

class AuthPhaseTest : public ::testing::Test {
 protected:
  AuthPhaseTest() {
    jwks_path = dir.file("jwks.json");
    write(jwks_path, test::jwks_of({test::oct_jwk(test::hmac_secret())}).dump());

    config.listeners.push_back(config::listener{.name = "public"});
    config.routes.push_back(auth_route("keys", auth_mode::required, auth_mode::off));
    config.routes.push_back(auth_route("keys-optional", auth_mode::optional, auth_mode::off));
    config.routes.push_back(auth_route("jwt", auth_mode::off, auth_mode::required, {"orders:read"}));
    config.routes.push_back(auth_route("either", auth_mode::required, auth_mode::required));
    config.routes.push_back(auth_route("off", auth_mode::off, auth_mode::off));
    config.routes.push_back(auth_route("keys-scoped", auth_mode::required, auth_mode::off, {"write"}));
    config.routes.push_back(auth_route("optional-scoped", auth_mode::optional, auth_mode::off, {"read"}));
    config::route open;
    open.name = "open";
    open.upstream = "api";
    config.routes.push_back(open);
    config::rate_limit_policy per_tenant;
    per_tenant.name = "per-tenant";
    per_tenant.key = {config::limit_key::kind::jwt_claim, "tenant"};
    config.routes[2].rate_limits.push_back(per_tenant);

    config.auth.api_keys = config::api_key_settings{};
    config.auth.api_keys->db = dir.file("keys.db");
    config::jwt_settings jwt;
    jwt.issuer = issuer;
    jwt.audiences = {"api"};
    jwt.jwks_file = jwks_path;
    jwt.algorithms = {config::jwt_algorithm::hs256};
    config.auth.jwt = jwt;

    auto revoked_entry = revoked.entry;
    revoked_entry.revoked = true;
    auto expired_entry = expired.entry;
    expired_entry.expires_at = now - 1s;
    cache->load({active.entry, revoked_entry, expired_entry, writer.entry});
    auto opened = jwks_source::open(jwks_path, 0ms);  // no thread: nothing polls in a unit test
    if (!opened.source) throw std::runtime_error("jwks: " + opened.errors.front());
    phase = std::make_unique<auth_phase>(config, std::make_shared<api_key_source>(cache),
                                         std::move(opened.source));
  }

  const config::route* route(std::string_view name) const {
    for (const auto& r : config.routes) {
      if (r.name == name) return &r;
    }
    throw std::runtime_error("no route");
  }

  json claims(json extra = json::object()) const {
    json payload = {{"iss", issuer}, {"aud", "api"}, {"sub", "user-7"},
                    {"exp", unix_seconds(now + 1h)}, {"scope", "orders:read profile"}, {"tenant", "acme"}};
    payload.update(extra);
    return payload;
  }

  struct outcome {
    phase::phase_result result;
    std::optional<http::local_response> answer;
    std::string key_id;
    std::optional<core::rate> key_rate;
    std::map<std::string, std::string, std::less<>> claims;
    std::unique_ptr<http::request_parser> parsed;  // holds the request the phase saw
    http::request_header<> upstream_head;    // the header section the upstream would read

    const http::request_head& request() const { return parsed->get(); }

    std::vector<std::string> upstream_values(std::string_view name) const {
      return http::test::values_of(upstream_head, name);
    }
    std::string upstream(std::string_view name) const {
      const auto values = upstream_values(name);
      return values.empty() ? "<absent>" : values.front();
    }
    std::vector<std::string> challenges() const {
      std::vector<std::string> out;
      if (!answer) return out;
      for (const auto& [name, value] : answer->headers) {
        if (name == "WWW-Authenticate") out.push_back(value);
      }
      return out;
    }
  };

  outcome send(std::string_view route_name, const http::fields& headers = {}) {
    outcome out;
    http::request<http::empty_body> sent{http::verb::get, "/", 11};
    for (const auto& field : headers) sent.insert(field.name_string(), field.value());
    out.parsed = http::test::as_read(sent.base());
    phase::request_context ctx{.config = config,
                               .listener = config.listeners.front(),
                               .request = out.parsed->get(),
                               .client_ip = "192.0.2.1",
                               .start = core::time_point{},
                               .thread = 0};
    ctx.request_id = "req-1";
    ctx.route = route(route_name);
    out.result = phase->decide(ctx, now);
    out.answer = ctx.answer;
    out.key_id = ctx.auth_key_id;
    out.key_rate = ctx.auth_key_rate;
    out.claims = ctx.jwt_claims;
    std::string head;
    proxy::write_upstream_head(out.request(),
                               {.client_ip = ctx.client_ip, .gateway_fields = ctx.upstream_headers},
                               head);
    out.upstream_head =
        http::test::parse_head<boost::beast::http::request_parser<http::empty_body>>(head);
    return out;
  }

  static http::fields with(std::initializer_list<std::pair<std::string, std::string>> list) {
    http::fields fields;
    for (const auto& [name, value] : list) fields.insert(name, value);
    return fields;
  }

  temp_dir dir;
  std::string jwks_path;
  config::gateway_config config;
  std::shared_ptr<store::api_key_cache> cache = std::make_shared<store::api_key_cache>();
  test_key active = make_key("ci", {"read"});
  test_key revoked = make_key("old", {"read"});
  test_key expired = make_key("temp", {"read"});
  test_key writer = make_key("writer", {"read", "write"});
  std::unique_ptr<auth_phase> phase;
};

TEST_F(AuthPhaseTest, RequiredKeyMissingIs401WithChallenges) {
  const auto out = send("keys");
  ASSERT_EQ(out.result, phase::phase_result::respond);
  ASSERT_TRUE(out.answer);
  EXPECT_EQ(out.answer->status, 401u);
  EXPECT_EQ(out.answer->content_type, "application/problem+json");
  EXPECT_NE(out.answer->body.find("\"request_id\":\"req-1\""), std::string::npos);
  EXPECT_EQ(out.challenges(), (std::vector<std::string>{
                                  "Bearer realm=\"bulwark\"",
                                  "ApiKey realm=\"bulwark\", header=\"X-API-Key\""}));
  EXPECT_TRUE(out.key_id.empty());
}

TEST_F(AuthPhaseTest, ValidKeyInHeaderPassesWithItsIdentityAndIsNotForwarded) {
  const auto out = send("keys", with({{"X-API-Key", active.text},
                                      {"X-Auth-Subject", "admin"},
                                      {"X-Auth-Scopes", "everything"}}));
  ASSERT_EQ(out.result, phase::phase_result::proceed);
  EXPECT_EQ(out.key_id, active.entry.id);
  EXPECT_EQ(out.upstream("X-Auth-Subject"), active.entry.id);
  EXPECT_EQ(out.upstream("X-Auth-Scopes"), "read");
  EXPECT_EQ(out.upstream("X-API-Key"), "<absent>");
  EXPECT_EQ(out.upstream_values("X-Auth-Subject").size(), 1u);
}

// The key's rate override goes to the rate limits with its id; the rate the
// cache holds now is what the next request carries.
TEST_F(AuthPhaseTest, TheKeysRateOverrideGoesIntoTheContext) {
  EXPECT_EQ(send("keys", with({{"X-API-Key", active.text}})).key_rate, std::nullopt);
  auto metered = make_key("metered", {"read"});
  metered.entry.rate = "100/s";
  cache->load({active.entry, metered.entry});
  const auto out = send("keys", with({{"Authorization", "Bearer " + metered.text}}));
  ASSERT_EQ(out.result, phase::phase_result::proceed);
  EXPECT_EQ(out.key_id, metered.entry.id);
  EXPECT_EQ(out.key_rate, (core::rate{100, 1s}));
  metered.entry.rate = "5/min";
  cache->load({active.entry, metered.entry});
  EXPECT_EQ(send("keys", with({{"X-API-Key", metered.text}})).key_rate, (core::rate{5, 60s}));
  // A refused key leaves nothing for the rate limits.
  metered.entry.revoked = true;
  cache->load({active.entry, metered.entry});
  const auto refused = send("keys", with({{"X-API-Key", metered.text}}));
  EXPECT_EQ(refused.result, phase::phase_result::respond);
  EXPECT_EQ(refused.key_rate, std::nullopt);
}

TEST_F(AuthPhaseTest, KeyAsBearerTokenPassesAndAuthorizationIsRemoved) {
  const auto out = send("keys", with({{"Authorization", "bearer  " + active.text}}));
  ASSERT_EQ(out.result, phase::phase_result::proceed);
  EXPECT_EQ(out.key_id, active.entry.id);
  EXPECT_EQ(out.upstream("Authorization"), "<absent>");
}

TEST_F(AuthPhaseTest, RefusedKeysAre401WithTheReason) {
  struct {
    std::string key;
    std::string reason;
  } cases[] = {{revoked.text, "revoked"},
               {expired.text, "expired"},
               {make_key("x", {}).text, "unknown"},
               {"bwk_not-a-key", "malformed"},
               // The right id with another secret says nothing about the key.
               {revoked.text.substr(0, 17) + std::string(32, 'A'), "unknown"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reason);
    const auto in_header = send("keys", with({{"X-API-Key", c.key}}));
    ASSERT_TRUE(in_header.answer);
    EXPECT_EQ(in_header.answer->status, 401u);
    EXPECT_NE(in_header.answer->body.find("invalid API key: " + c.reason), std::string::npos);
    EXPECT_EQ(in_header.challenges(),
              std::vector<std::string>{"ApiKey realm=\"bulwark\", header=\"X-API-Key\", "
                                       "error=\"invalid_key\", error_description=\"API key " +
                                       c.reason + "\""});
    const auto as_bearer = send("keys", with({{"Authorization", "Bearer " + c.key}}));
    ASSERT_TRUE(as_bearer.answer);
    EXPECT_EQ(as_bearer.answer->status, 401u);
    EXPECT_EQ(as_bearer.challenges(),
              std::vector<std::string>{"Bearer error=\"invalid_token\", error_description=\"API key " +
                                       c.reason + "\""});
  }
}

TEST_F(AuthPhaseTest, OptionalAdmitsAnonymousButNotABadKey) {
  const auto anonymous = send("keys-optional", with({{"X-Auth-Subject", "admin"}}));
  ASSERT_EQ(anonymous.result, phase::phase_result::proceed);
  EXPECT_EQ(anonymous.upstream("X-Auth-Subject"), "<absent>");
  EXPECT_TRUE(anonymous.key_id.empty());

  const auto bad = send("keys-optional", with({{"X-API-Key", revoked.text}}));
  ASSERT_TRUE(bad.answer);
  EXPECT_EQ(bad.answer->status, 401u);

  const auto good = send("keys-optional", with({{"X-API-Key", active.text}}));
  EXPECT_EQ(good.result, phase::phase_result::proceed);
  EXPECT_EQ(good.upstream("X-Auth-Subject"), active.entry.id);
}

TEST_F(AuthPhaseTest, OffChecksNothingButStillStripsKeysAndIdentity) {
  const auto out = send("off", with({{"X-API-Key", "bwk_garbage"},
                                     {"X-Auth-Subject", "admin"},
                                     {"Authorization", "Bearer bwk_garbage"}}));
  ASSERT_EQ(out.result, phase::phase_result::proceed);
  EXPECT_EQ(out.upstream("X-API-Key"), "<absent>");
  EXPECT_EQ(out.upstream("Authorization"), "<absent>");
  EXPECT_EQ(out.upstream("X-Auth-Subject"), "<absent>");
  EXPECT_TRUE(out.key_id.empty());

  // A key in a second Authorization field is found and removed as well.
  auto two = with({{"Authorization", "Basic dXNlcjpwdw=="}});
  two.insert("Authorization", "Bearer " + active.text);
  const auto second = send("off", two);
  ASSERT_EQ(second.result, phase::phase_result::proceed);
  EXPECT_EQ(second.request().count(http::field::authorization), 1u);
  EXPECT_EQ(second.upstream("Authorization"), "Basic dXNlcjpwdw==");
}

// Field names are case-insensitive and may repeat: every field carrying a key
// or an identity goes, whatever its case and count, and nothing else does.
TEST_F(AuthPhaseTest, KeyAndIdentityFieldsGoWhateverTheirCaseAndCount) {
  auto fields = with({{"x-api-key", active.text}, {"X-Other", "kept"}});
  fields.insert("X-API-KEY", writer.text);
  fields.insert("authorization", "bearer " + writer.text);
  fields.insert("AUTHORIZATION", "Bearer " + active.text);
  fields.insert("x-auth-subject", "admin");
  fields.insert("X-AUTH-SCOPES", "everything");
  fields.insert("X-Auth-Subject", "root");
  const auto out = send("off", fields);
  ASSERT_EQ(out.result, phase::phase_result::proceed);
  for (const auto& field : out.request()) {
    EXPECT_EQ(field.name_string(), "X-Other") << field.name_string() << ": " << field.value();
  }
  EXPECT_EQ(out.upstream("X-Other"), "kept");

  const auto lower = send("keys", with({{"x-api-key", active.text}, {"x-auth-subject", "admin"}}));
  ASSERT_EQ(lower.result, phase::phase_result::proceed);
  EXPECT_EQ(lower.key_id, active.entry.id);
  EXPECT_EQ(lower.upstream("X-Auth-Subject"), active.entry.id);
  EXPECT_EQ(lower.upstream_values("X-Auth-Subject").size(), 1u);
  EXPECT_EQ(lower.upstream("X-API-Key"), "<absent>");

  // Refused requests are not forwarded, but their keys go all the same.
  const auto refused = send("keys", with({{"x-api-key", revoked.text}}));
  ASSERT_EQ(refused.result, phase::phase_result::respond);
  EXPECT_EQ(refused.upstream("X-API-Key"), "<absent>");
}

TEST_F(AuthPhaseTest, RouteWithoutAuthIsUntouched) {
  const auto out = send("open", with({{"X-API-Key", active.text}, {"X-Auth-Subject", "admin"}}));
  ASSERT_EQ(out.result, phase::phase_result::proceed);
  EXPECT_EQ(out.upstream("X-API-Key"), active.text);
  EXPECT_EQ(out.upstream("X-Auth-Subject"), "admin");
}

TEST_F(AuthPhaseTest, ValidJwtPassesWithSubjectScopesAndClaims) {
  const auto token = test::hs256_token(claims());
  const auto out = send("jwt", with({{"Authorization", "Bearer " + token}, {"X-Auth-Subject", "admin"}}));
  ASSERT_EQ(out.result, phase::phase_result::proceed) << (out.answer ? out.answer->body : "");
  EXPECT_EQ(out.upstream("X-Auth-Subject"), "user-7");
  EXPECT_EQ(out.upstream("X-Auth-Scopes"), "orders:read profile");
  EXPECT_EQ(out.upstream("Authorization"), "Bearer " + token);  // a JWT is forwarded
  EXPECT_EQ(out.claims.at("sub"), "user-7");
  EXPECT_EQ(out.claims.at("tenant"), "acme");  // a rate limit keys on it
  EXPECT_FALSE(out.claims.contains("iss"));
  EXPECT_TRUE(out.key_id.empty());
}

TEST_F(AuthPhaseTest, InvalidJwtsAre401WithInvalidToken) {
  struct {
    std::string name;
    std::string token;
  } cases[] = {
      {"expired", test::hs256_token(claims({{"exp", unix_seconds(now - 1h)}}))},
      {"issuer", test::hs256_token(claims({{"iss", "https://evil.test"}}))},
      {"signature", test::hs256_token(claims(), {{"alg", "HS256"}}, "another-secret-another-secret-32b")},
      {"none", test::encode_part({{"alg", "none"}}) + "." + test::encode_part(claims()) + "."},
      {"garbage", "not.a.jwt"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto out = send("jwt", with({{"Authorization", "Bearer " + c.token}}));
    ASSERT_TRUE(out.answer);
    EXPECT_EQ(out.answer->status, 401u);
    ASSERT_EQ(out.challenges().size(), 1u);
    EXPECT_TRUE(out.challenges()[0].starts_with("Bearer error=\"invalid_token\", error_description=\""))
        << out.challenges()[0];
    EXPECT_NE(out.answer->body.find("invalid token: "), std::string::npos);
  }
}

TEST_F(AuthPhaseTest, JwtWithoutTheScopeIs403WithInsufficientScope) {
  const auto out = send("jwt", with({{"Authorization", "Bearer " + test::hs256_token(claims({{"scope", "profile"}}))}}));
  ASSERT_TRUE(out.answer);
  EXPECT_EQ(out.answer->status, 403u);
  EXPECT_EQ(out.challenges(),
            std::vector<std::string>{"Bearer error=\"insufficient_scope\", scope=\"orders:read\""});
  EXPECT_NE(out.answer->body.find("missing scope \\\"orders:read\\\""), std::string::npos);
}

TEST_F(AuthPhaseTest, JwtRequiredAndMissingIsABareBearerChallenge) {
  const auto out = send("jwt");
  ASSERT_TRUE(out.answer);
  EXPECT_EQ(out.answer->status, 401u);
  EXPECT_EQ(out.challenges(), std::vector<std::string>{"Bearer realm=\"bulwark\""});
}

TEST_F(AuthPhaseTest, ASubjectThatWouldBreakTheHeaderIsRefused) {
  const auto out = send("jwt", with({{"Authorization", "Bearer " + test::hs256_token(claims({{"sub", "a\r\nX-Admin: 1"}}))}}));
  ASSERT_TRUE(out.answer);
  EXPECT_EQ(out.answer->status, 401u);
}

TEST_F(AuthPhaseTest, EitherCredentialSatisfiesWhenBothAreOn) {
  const auto by_key = send("either", with({{"X-API-Key", active.text}}));
  EXPECT_EQ(by_key.result, phase::phase_result::proceed);
  EXPECT_EQ(by_key.upstream("X-Auth-Subject"), active.entry.id);
  const auto by_token = send("either", with({{"Authorization", "Bearer " + test::hs256_token(claims())}}));
  EXPECT_EQ(by_token.result, phase::phase_result::proceed);
  EXPECT_EQ(by_token.upstream("X-Auth-Subject"), "user-7");
  // Both: both verified (rate limits see both), the token speaks upstream.
  const auto both = send("either", with({{"X-API-Key", active.text},
                                         {"Authorization", "Bearer " + test::hs256_token(claims())}}));
  EXPECT_EQ(both.result, phase::phase_result::proceed);
  EXPECT_EQ(both.key_id, active.entry.id);
  EXPECT_EQ(both.claims.at("sub"), "user-7");
  EXPECT_EQ(both.upstream("X-Auth-Subject"), "user-7");
  // A bad one is refused even next to a good one.
  const auto mixed = send("either", with({{"X-API-Key", revoked.text},
                                          {"Authorization", "Bearer " + test::hs256_token(claims())}}));
  ASSERT_TRUE(mixed.answer);
  EXPECT_EQ(mixed.answer->status, 401u);
  const auto neither = send("either");
  ASSERT_TRUE(neither.answer);
  EXPECT_EQ(neither.answer->status, 401u);
}

TEST_F(AuthPhaseTest, KeyScopes) {
  const auto lacking = send("keys-scoped", with({{"X-API-Key", active.text}}));
  ASSERT_TRUE(lacking.answer);
  EXPECT_EQ(lacking.answer->status, 403u);
  EXPECT_TRUE(lacking.challenges().empty());  // no Bearer challenge for a key in X-API-Key
  const auto holding = send("keys-scoped", with({{"X-API-Key", writer.text}}));
  EXPECT_EQ(holding.result, phase::phase_result::proceed);
  EXPECT_EQ(holding.upstream("X-Auth-Scopes"), "read write");
}

TEST_F(AuthPhaseTest, ScopesNeedACredentialEvenWhenOptional) {
  const auto anonymous = send("optional-scoped");
  ASSERT_TRUE(anonymous.answer);
  EXPECT_EQ(anonymous.answer->status, 401u);
  EXPECT_EQ(send("optional-scoped", with({{"X-API-Key", active.text}})).result,
            phase::phase_result::proceed);
}

TEST_F(AuthPhaseTest, AmbiguousCredentialsAre400) {
  auto twice = with({{"X-API-Key", active.text}});
  twice.insert("X-API-Key", active.text);
  const auto two_headers = send("keys", twice);
  ASSERT_TRUE(two_headers.answer);
  EXPECT_EQ(two_headers.answer->status, 400u);
  const auto two_places = send("keys", with({{"X-API-Key", active.text},
                                             {"Authorization", "Bearer " + writer.text}}));
  ASSERT_TRUE(two_places.answer);
  EXPECT_EQ(two_places.answer->status, 400u);
  auto two_authorizations = with({{"Authorization", "Bearer " + test::hs256_token(claims())}});
  two_authorizations.insert("Authorization", "Bearer x");
  const auto two_bearers = send("jwt", two_authorizations);
  ASSERT_TRUE(two_bearers.answer);
  EXPECT_EQ(two_bearers.answer->status, 400u);
}

TEST_F(AuthPhaseTest, RevocationAppliesAtTheNextRequest) {
  ASSERT_EQ(send("keys", with({{"X-API-Key", active.text}})).result, phase::phase_result::proceed);
  auto now_revoked = active.entry;
  now_revoked.revoked = true;
  cache->load({now_revoked});
  const auto out = send("keys", with({{"X-API-Key", active.text}}));
  ASSERT_TRUE(out.answer);
  EXPECT_EQ(out.answer->status, 401u);
}

// --- building from configuration ----------------------------------------------------

TEST_F(AuthPhaseTest, BuildOpensTheStoreAndTheJwksAsCarriedState) {
  phase::carried_state carried;
  std::vector<std::string> problems;
  {
    auto generation = carried.next();
    phase::phase_build_context build{nullptr, generation, problems};
    auth_phase built(config, build);
    EXPECT_TRUE(problems.empty()) << problems.front();
    const auto source = find_api_key_source(config.auth.api_keys->db);
    ASSERT_NE(source, nullptr);
    EXPECT_NE(source->store(), nullptr);
    carried.commit(std::move(generation));

    // A second snapshot (a reload) gets the very same source.
    auto next = carried.next();
    phase::phase_build_context rebuild{nullptr, next, problems};
    auth_phase again(config, rebuild);
    EXPECT_TRUE(problems.empty());
    EXPECT_EQ(find_api_key_source(config.auth.api_keys->db), source);
    carried.commit(std::move(next));
  }
  carried.commit(carried.next());  // a snapshot without auth: the source is forgotten
  EXPECT_EQ(find_api_key_source(config.auth.api_keys->db), nullptr);
}

TEST_F(AuthPhaseTest, FilesThatCannotBeOpenedAreBuildProblems) {
  write(dir.file("plain-file"), "x");
  config.auth.api_keys->db = dir.file("plain-file/keys.db");  // a file as a directory
  config.auth.jwt->jwks_file = dir.file("missing.json");
  phase::carried_state carried;
  auto generation = carried.next();
  std::vector<std::string> problems;
  phase::phase_build_context build{nullptr, generation, problems};
  auth_phase built(config, build);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_TRUE(problems[0].starts_with("auth.api_keys.db: ")) << problems[0];
  EXPECT_TRUE(problems[1].starts_with("auth.jwt.jwks_file: ")) << problems[1];
}

TEST_F(AuthPhaseTest, ABrokenJwksAtReloadIsAProblemAndTheOldKeysStay) {
  phase::carried_state carried;
  std::vector<std::string> problems;
  auto generation = carried.next();
  phase::phase_build_context build{nullptr, generation, problems};
  auth_phase built(config, build);
  ASSERT_TRUE(problems.empty());
  carried.commit(std::move(generation));

  write(jwks_path, "{\"keys\": 5}");
  auto next = carried.next();
  phase::phase_build_context rebuild{nullptr, next, problems};
  auth_phase rejected(config, rebuild);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(problems[0].starts_with("auth.jwt.jwks_file: ")) << problems[0];
}

}  // namespace
}  // namespace bulwark::policy::auth
