// Authentication end to end (DESIGN.md §4 routes[].auth, §6 401/403, §7
// /admin/keys): the real bulwark in front of demo-upstream, whose /headers
// echoes what arrived upstream. Keys come from the real `bulwark keys` binary
// or the admin API; JWTs are HS256, signed with the `openssl` command so that
// the test never signs with the code under test.
#include "integration/harness.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <thread>

namespace bulwark::test {
namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

constexpr const char* admin_token_variable = "BULWARK_AUTH_TEST_ADMIN_TOKEN";
constexpr const char* admin_token = "auth-test-admin-token";
constexpr const char* issuer = "https://issuer.test";

// --- JWT helpers ------------------------------------------------------------------------

std::string base64url(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = (static_cast<unsigned char>(bytes[i]) << 16) |
                   (static_cast<unsigned char>(bytes[i + 1]) << 8) | static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i + 1 == bytes.size()) {
    const auto n = static_cast<unsigned char>(bytes[i]) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    const auto n = (static_cast<unsigned char>(bytes[i]) << 16) | (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
  }
  return out;
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

// HMAC-SHA256 by the openssl command line tool.
std::string hmac_sha256(const temp_dir& dir, const std::string& secret, const std::string& input) {
  const auto in = dir.file("signing-input");
  const auto out = dir.file("signature");
  write_file(in, input);
  process openssl({"/usr/bin/openssl", "dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + hex(secret),
                   "-binary", "-out", out, in});
  const auto code = openssl.wait_exit(10s);
  if (code != 0) throw std::runtime_error("openssl dgst failed:\n" + openssl.describe());
  return read_file(out);
}

std::string hs256_token(const temp_dir& dir, const std::string& secret, const json& payload,
                        const json& header = {{"alg", "HS256"}, {"typ", "JWT"}}) {
  const auto input = base64url(header.dump()) + "." + base64url(payload.dump());
  return input + "." + base64url(hmac_sha256(dir, secret, input));
}

std::string jwks_with(const std::string& secret) {
  return json{{"keys", {{{"kty", "oct"}, {"k", base64url(secret)}}}}}.dump();
}

long long unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- keys by the CLI -------------------------------------------------------------------

json cli_create(const std::string& db, const std::string& name, const std::string& scopes = "",
                const std::string& expires = "", const std::string& rate = "") {
  std::vector<std::string> argv{binary_path("bulwark"), "keys", "create", "--name", name, "--db", db, "--json"};
  if (!scopes.empty()) argv.insert(argv.end(), {"--scopes", scopes});
  if (!expires.empty()) argv.insert(argv.end(), {"--expires", expires});
  if (!rate.empty()) argv.insert(argv.end(), {"--rate", rate});
  process cli(std::move(argv));
  const auto code = cli.wait_exit(10s);
  if (code != 0) throw std::runtime_error("bulwark keys create failed:\n" + cli.describe());
  const auto out = cli.stdout_text();
  return json::parse(out.substr(0, out.find('\n')));
}

void cli_revoke(const std::string& db, const std::string& id) {
  process cli({binary_path("bulwark"), "keys", "revoke", id, "--db", db});
  const auto code = cli.wait_exit(10s);
  if (code != 0) throw std::runtime_error("bulwark keys revoke failed:\n" + cli.describe());
}

// --- the gateway -------------------------------------------------------------------------

class Auth : public ::testing::Test {
 protected:
  void SetUp() override {
    write_file(jwks_, jwks_with(secret_));
    ::setenv(admin_token_variable, admin_token, 1);
    gateway_.emplace(start_bulwark(config()));
    ::unsetenv(admin_token_variable);
  }

  std::string config() const {
    const auto port = std::to_string(upstream_.port);
    return "workers: 2\n"
           "listeners: [{name: public, address: 127.0.0.1:0}]\n"
           "upstreams: [{name: demo, endpoints: [127.0.0.1:" + port + "]}]\n"
           "routes:\n"
           "  - {name: required, match: {headers: {X-Route: required}}, upstream: demo,\n"
           "     auth: {api_key: required, scopes_header: X-Auth-Scopes}}\n"
           "  - {name: optional, match: {headers: {X-Route: optional}}, upstream: demo,\n"
           "     auth: {api_key: optional}}\n"
           "  - {name: offmode, match: {headers: {X-Route: offmode}}, upstream: demo, auth: {api_key: 'off'}}\n"
           "  - {name: scoped, match: {headers: {X-Route: scoped}}, upstream: demo,\n"
           "     auth: {api_key: required, scopes: [write]}}\n"
           "  - {name: jwt, match: {headers: {X-Route: jwt}}, upstream: demo,\n"
           "     auth: {jwt: required, scopes: [orders:read], subject_header: X-User}}\n"
           "  - {name: metered, match: {headers: {X-Route: metered}}, upstream: demo,\n"
           "     auth: {api_key: required},\n"
           "     rate_limits: [{name: per-key, key: api_key, rate: 2/min},\n"
           "                   {name: per-ip, key: client_ip, rate: 100/min}]}\n"
           "auth:\n"
           "  api_keys: {db: " + db_ + "}\n"
           "  jwt: {issuer: '" + issuer + "', audiences: [api], jwks_file: " + jwks_ +
           ", algorithms: [HS256]}\n"
           "admin: {address: 127.0.0.1:0, token_env: " + admin_token_variable + "}\n";
  }

  // GET /headers on `route` with `headers`.
  http_response get(const std::string& route, header_list headers = {}) {
    headers.emplace_back("X-Route", route);
    auto response = http_get(gateway_->port("public"), "/headers", headers);
    if (!response) throw std::runtime_error("no response from bulwark:\n" + gateway_->proc.describe());
    return *response;
  }

  // What the upstream received, lower-cased names; empty when it was not reached.
  static json upstream_headers(const http_response& response) {
    if (response.status != 200) return json::object();
    return json::parse(response.body).at("headers");
  }

  http_response admin(std::string_view method, std::string_view target, std::string_view body = {},
                      bool with_token = true) {
    header_list headers;
    if (with_token) headers.emplace_back("Authorization", std::string("Bearer ") + admin_token);
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    http_connection connection(gateway_->admin_port);
    if (!connection.send(format_request(method, target, gateway_->admin_port, headers, body))) {
      throw std::runtime_error("admin send failed");
    }
    auto response = connection.read_response();
    if (!response) throw std::runtime_error("no admin response: " + connection.error());
    return *response;
  }

  // Polls `route` with `headers` until the status is `expected` or `limit` passes;
  // returns how long it took, or nullopt.
  std::optional<milliseconds> wait_for_status(const std::string& route, const header_list& headers,
                                              int expected, milliseconds limit) {
    const auto start = clock_type::now();
    for (;;) {
      const auto elapsed = std::chrono::duration_cast<milliseconds>(clock_type::now() - start);
      if (get(route, headers).status == expected) return elapsed;
      if (elapsed > limit) return std::nullopt;
      std::this_thread::sleep_for(50ms);
    }
  }

  std::string token(const json& extra = json::object(), const std::string& secret = "") {
    json payload = {{"iss", issuer}, {"aud", "api"}, {"sub", "user-7"}, {"exp", unix_now() + 3600},
                    {"scope", "orders:read profile"}};
    if (extra.is_object()) payload.update(extra);  // `{}` as an argument is null
    return hs256_token(dir_, secret.empty() ? secret_ : secret, payload);
  }

  temp_dir dir_;
  std::string db_ = dir_.file("data/keys.db");
  std::string jwks_ = dir_.file("jwks.json");
  std::string secret_ = "integration-test-hmac-secret-0123456789";
  demo_upstream upstream_ = start_demo_upstream();
  std::optional<bulwark_instance> gateway_;
};

TEST_F(Auth, RequiredRouteRefusesMissingAndBadKeys) {
  const auto missing = get("required");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.header("Content-Type"), "application/problem+json");
  EXPECT_EQ(missing.count("WWW-Authenticate"), 2);
  EXPECT_NE(missing.body.find("\"status\":401"), std::string::npos);

  const auto unknown = get("required", {{"X-API-Key", "bwk_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}});
  EXPECT_EQ(unknown.status, 401);
  EXPECT_NE(unknown.header("WWW-Authenticate").find("error_description=\"API key unknown\""),
            std::string::npos)
      << unknown.header("WWW-Authenticate");

  const auto malformed = get("required", {{"Authorization", "Bearer bwk_short"}});
  EXPECT_EQ(malformed.status, 401);
  EXPECT_EQ(malformed.header("WWW-Authenticate"),
            "Bearer error=\"invalid_token\", error_description=\"API key malformed\"");
}

// The access log says how each request got in, and never holds the key.
TEST_F(Auth, AccessLogRecordsTheAuthDecision) {
  const auto created = admin("POST", "/admin/keys", R"({"name":"logged"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const auto key = json::parse(created.body).at("key").get<std::string>();
  EXPECT_EQ(get("required", {{"X-Request-Id", "log-denied"}}).status, 401);
  EXPECT_EQ(get("required", {{"X-Request-Id", "log-key"}, {"X-API-Key", key}}).status, 200);
  EXPECT_EQ(get("optional", {{"X-Request-Id", "log-anonymous"}}).status, 200);
  const auto auth_of = [&](const std::string& id) {
    const auto line = gateway_->proc.wait_for_json_line(
        output::out, [&](const json& l) { return l.value("request_id", "") == id; }, 3s);
    return line ? line->at("auth") : json("no line");
  };
  EXPECT_EQ(auth_of("log-denied"), "denied");
  EXPECT_EQ(auth_of("log-key"), "api_key");
  EXPECT_EQ(auth_of("log-anonymous"), "anonymous");
  EXPECT_EQ(gateway_->proc.stdout_text().find(key), std::string::npos);
}

TEST_F(Auth, KeyFromTheCliIsAcceptedWithin2sAndItsIdentityGoesUpstream) {
  const auto created = cli_create(db_, "ci", "read,deploy");
  const auto key = created.at("key").get<std::string>();
  const auto id = created.at("id").get<std::string>();
  const header_list with_key{{"X-API-Key", key}, {"X-Auth-Subject", "admin"}, {"X-Auth-Scopes", "all"}};
  const auto took = wait_for_status("required", with_key, 200, 2000ms);
  ASSERT_TRUE(took) << "a key created by the CLI was not accepted within 2 s";

  const auto response = get("required", with_key);
  ASSERT_EQ(response.status, 200) << response.body;
  const auto seen = upstream_headers(response);
  EXPECT_EQ(seen.value("x-auth-subject", ""), id);  // the client's "admin" was replaced
  EXPECT_EQ(seen.value("x-auth-scopes", ""), "read deploy");
  EXPECT_FALSE(seen.contains("x-api-key"));
  EXPECT_EQ(response.body.find(key), std::string::npos);

  // As a bearer token: accepted, and the Authorization field is not forwarded.
  const auto bearer = get("required", {{"Authorization", "Bearer " + key}});
  ASSERT_EQ(bearer.status, 200);
  EXPECT_FALSE(upstream_headers(bearer).contains("authorization"));
  EXPECT_EQ(upstream_headers(bearer).value("x-auth-subject", ""), id);

  // The key never appears in the gateway's output (the access log included).
  std::this_thread::sleep_for(300ms);  // the access log is written within ~100 ms
  EXPECT_EQ(gateway_->proc.stdout_text().find(key), std::string::npos);
  EXPECT_EQ(gateway_->proc.stderr_text().find(key), std::string::npos);
}

TEST_F(Auth, OptionalAndOffModes) {
  const auto key = cli_create(db_, "opt").at("key").get<std::string>();
  ASSERT_TRUE(wait_for_status("required", {{"X-API-Key", key}}, 200, 2000ms));

  const auto anonymous = get("optional", {{"X-Auth-Subject", "admin"}});
  ASSERT_EQ(anonymous.status, 200);
  EXPECT_FALSE(upstream_headers(anonymous).contains("x-auth-subject"));

  const auto bad = get("optional", {{"X-API-Key", "bwk_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}});
  EXPECT_EQ(bad.status, 401);

  const auto good = get("optional", {{"X-API-Key", key}});
  ASSERT_EQ(good.status, 200);
  EXPECT_TRUE(upstream_headers(good).contains("x-auth-subject"));

  // off: nothing is checked, but neither a key nor a claimed identity goes upstream.
  const auto off = get("offmode", {{"X-API-Key", "garbage"}, {"X-Auth-Subject", "admin"}});
  ASSERT_EQ(off.status, 200);
  EXPECT_FALSE(upstream_headers(off).contains("x-api-key"));
  EXPECT_FALSE(upstream_headers(off).contains("x-auth-subject"));
}

TEST_F(Auth, ScopesRevocationAndExpiryFromTheCli) {
  const auto reader = cli_create(db_, "reader", "read");
  const auto writer = cli_create(db_, "writer", "read,write");
  const header_list as_reader{{"X-API-Key", reader.at("key").get<std::string>()}};
  const header_list as_writer{{"X-API-Key", writer.at("key").get<std::string>()}};
  ASSERT_TRUE(wait_for_status("scoped", as_writer, 200, 2000ms));
  const auto forbidden = get("scoped", as_reader);
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_EQ(forbidden.header("Content-Type"), "application/problem+json");
  EXPECT_NE(forbidden.body.find("missing scope"), std::string::npos);

  cli_revoke(db_, writer.at("id").get<std::string>());
  ASSERT_TRUE(wait_for_status("scoped", as_writer, 401, 2000ms)) << "a revoked key still works after 2 s";
  EXPECT_NE(get("scoped", as_writer).header("WWW-Authenticate").find("API key revoked"), std::string::npos);

  // Unknown (401) until the watcher loads it, then accepted, then expired.
  const auto brief = cli_create(db_, "brief", "", "3s");
  const header_list as_brief{{"X-API-Key", brief.at("key").get<std::string>()}};
  ASSERT_TRUE(wait_for_status("required", as_brief, 200, 2000ms));
  ASSERT_TRUE(wait_for_status("required", as_brief, 401, 4000ms)) << "a 3 s key still works after 5 s";
  EXPECT_NE(get("required", as_brief).header("WWW-Authenticate").find("API key expired"), std::string::npos);
}

TEST_F(Auth, AdminApiChangesApplyAtOnce) {
  // Protected like every /admin/* endpoint.
  EXPECT_EQ(admin("GET", "/admin/keys", {}, false).status, 401);

  const auto created = admin("POST", "/admin/keys", R"({"name":"partner","scopes":["read"],"expires":"30d"})");
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.header("Cache-Control"), "no-store");
  const auto issued = json::parse(created.body);
  const auto key = issued.at("key").get<std::string>();
  const auto id = issued.at("id").get<std::string>();
  EXPECT_EQ(issued.at("name"), "partner");

  // Used at once: no retry, no wait for the watcher.
  EXPECT_EQ(get("required", {{"X-API-Key", key}}).status, 200);

  const auto listed = admin("GET", "/admin/keys");
  ASSERT_EQ(listed.status, 200);
  const auto keys = json::parse(listed.body).at("keys");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].at("id"), id);
  EXPECT_FALSE(keys[0].contains("key"));
  EXPECT_EQ(listed.body.find(key.substr(17)), std::string::npos);  // never the secret

  const auto revoked = admin("DELETE", "/admin/keys/" + id);
  ASSERT_EQ(revoked.status, 200) << revoked.body;
  EXPECT_EQ(json::parse(revoked.body).at("state"), "revoked");
  EXPECT_EQ(get("required", {{"X-API-Key", key}}).status, 401);  // refused at once

  EXPECT_EQ(admin("DELETE", "/admin/keys/zzzzzzzzzzzz").status, 404);
  EXPECT_EQ(admin("DELETE", "/admin/keys/not-an-id").status, 404);
}

TEST_F(Auth, AdminRotateKeepsTheOldKeyForTheGrace) {
  const auto created = admin("POST", "/admin/keys", R"({"name":"svc"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const auto old_key = json::parse(created.body).at("key").get<std::string>();
  const auto old_id = json::parse(created.body).at("id").get<std::string>();

  const auto rotated = admin("POST", "/admin/keys/" + old_id + "/rotate", R"({"grace":"2s"})");
  ASSERT_EQ(rotated.status, 201) << rotated.body;
  const auto issued = json::parse(rotated.body);
  const auto new_key = issued.at("key").get<std::string>();
  EXPECT_NE(new_key, old_key);
  EXPECT_EQ(issued.at("replaces").at("id"), old_id);

  EXPECT_EQ(get("required", {{"X-API-Key", new_key}}).status, 200);
  EXPECT_EQ(get("required", {{"X-API-Key", old_key}}).status, 200);  // in its grace
  const auto took = wait_for_status("required", {{"X-API-Key", old_key}}, 401, 5000ms);
  ASSERT_TRUE(took) << "the old key still works 5 s after a 2 s grace";
  EXPECT_GE(took->count(), 500);  // it did not stop at once
  EXPECT_EQ(get("required", {{"X-API-Key", new_key}}).status, 200);

  // A rotated key cannot be rotated again.
  EXPECT_EQ(admin("POST", "/admin/keys/" + old_id + "/rotate", "").status, 409);
}

TEST_F(Auth, AdminRefusesBadRequests) {
  const auto not_json = admin("POST", "/admin/keys", "{name:");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.header("Content-Type"), "application/problem+json");
  const auto unknown_field = admin("POST", "/admin/keys", R"({"name":"x","colour":"red"})");
  EXPECT_EQ(unknown_field.status, 400);
  EXPECT_NE(unknown_field.body.find("colour"), std::string::npos);
  EXPECT_EQ(admin("POST", "/admin/keys", R"({"scopes":["a"]})").status, 400);  // name required
  EXPECT_EQ(admin("POST", "/admin/keys", R"({"name":"x","expires":"soon"})").status, 400);
  EXPECT_EQ(admin("PUT", "/admin/keys").status, 405);
  EXPECT_EQ(admin("POST", "/admin/keys/zzzzzzzzzzzz/rotate", "").status, 404);
  EXPECT_EQ(admin("POST", "/admin/keys/zzzzzzzzzzzz/explode", "").status, 404);
}

// A key's rate override in the rate limits (`keys create --rate`): under a
// `2/min` policy keyed by api_key, a `5/min` key is admitted 5 times and a key
// without an override twice, each told its own quota in RateLimit-Policy; the
// client_ip policy beside it keeps its rate. A rotated key (new id, same
// override) starts with its own quota at the override's rate.
TEST_F(Auth, AKeysRateOverrideIsItsQuotaInAnApiKeyPolicy) {
  const auto premium = cli_create(db_, "premium", "", "", "5/min");
  EXPECT_EQ(premium.at("rate"), "5/min");
  const header_list as_premium{{"X-API-Key", premium.at("key").get<std::string>()}};
  // Loaded by the watcher; the `required` route has no rate limits to spend.
  ASSERT_TRUE(wait_for_status("required", as_premium, 200, 2000ms));
  const auto plain = admin("POST", "/admin/keys", R"({"name":"plain"})");
  ASSERT_EQ(plain.status, 201) << plain.body;
  const header_list as_plain{{"X-API-Key", json::parse(plain.body).at("key").get<std::string>()}};

  // Requests until the first refusal (at most 10); checks every field on the way.
  const auto admitted_until_refused = [&](const header_list& headers, const std::string& policy,
                                          const std::string& retry_after) {
    int admitted = 0;
    for (int i = 0; i < 10; ++i) {
      const auto response = get("metered", headers);
      EXPECT_EQ(response.header("RateLimit-Policy"), policy) << response.status;
      if (response.status == 200) {
        ++admitted;
        continue;
      }
      EXPECT_EQ(response.status, 429) << response.body;
      EXPECT_EQ(response.header("RateLimit"), R"("per-key";r=0;t=60)");
      EXPECT_EQ(response.header("Retry-After"), retry_after);
      break;
    }
    return admitted;
  };
  // 5/min: a unit every 12 s; 2/min: every 30 s.
  EXPECT_EQ(admitted_until_refused(as_premium, R"("per-key";q=5;w=60, "per-ip";q=100;w=60)", "12"),
            5);
  EXPECT_EQ(admitted_until_refused(as_plain, R"("per-key";q=2;w=60, "per-ip";q=100;w=60)", "30"),
            2);

  const auto rotated = admin("POST", "/admin/keys/" + premium.at("id").get<std::string>() + "/rotate",
                             R"({"grace":"0s"})");
  ASSERT_EQ(rotated.status, 201) << rotated.body;
  const header_list as_rotated{{"X-API-Key", json::parse(rotated.body).at("key").get<std::string>()}};
  EXPECT_EQ(admitted_until_refused(as_rotated, R"("per-key";q=5;w=60, "per-ip";q=100;w=60)", "12"),
            5);
}

TEST_F(Auth, Jwts) {
  const auto valid = get("jwt", {{"Authorization", "Bearer " + token()}, {"X-User", "admin"}});
  ASSERT_EQ(valid.status, 200) << valid.body;
  const auto seen = upstream_headers(valid);
  EXPECT_EQ(seen.value("x-user", ""), "user-7");
  EXPECT_TRUE(seen.contains("authorization"));  // a JWT is forwarded

  const auto missing = get("jwt");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(missing.header("WWW-Authenticate"), "Bearer realm=\"bulwark\"");

  struct {
    const char* name;
    std::string token;
  } refused[] = {
      {"expired", token({{"exp", unix_now() - 3600}})},
      {"wrong issuer", token({{"iss", "https://evil.test"}})},
      {"bad signature", token({}, "another-secret-another-secret-0123456789")},
      {"alg none", base64url(R"({"alg":"none"})") + "." + base64url(json{{"sub", "x"}}.dump()) + "."},
  };
  for (const auto& c : refused) {
    SCOPED_TRACE(c.name);
    const auto response = get("jwt", {{"Authorization", "Bearer " + c.token}});
    EXPECT_EQ(response.status, 401);
    EXPECT_EQ(response.header("WWW-Authenticate").rfind("Bearer error=\"invalid_token\", error_description=\"", 0),
              0u)
        << response.header("WWW-Authenticate");
  }

  const auto no_scope = get("jwt", {{"Authorization", "Bearer " + token({{"scope", "profile"}})}});
  EXPECT_EQ(no_scope.status, 403);
  EXPECT_EQ(no_scope.header("WWW-Authenticate"), "Bearer error=\"insufficient_scope\", scope=\"orders:read\"");
}

TEST_F(Auth, ReplacedJwksIsUsedWithinSeconds) {
  ASSERT_EQ(get("jwt", {{"Authorization", "Bearer " + token()}}).status, 200);
  const std::string rotated_secret = "rotated-hmac-secret-rotated-hmac-secret";
  const header_list with_new{{"Authorization", "Bearer " + token({}, rotated_secret)}};
  EXPECT_EQ(get("jwt", with_new).status, 401);

  // An identity provider's rotation: a new file renamed into place.
  write_file(jwks_ + ".new", jwks_with(rotated_secret));
  std::filesystem::rename(jwks_ + ".new", jwks_);
  ASSERT_TRUE(wait_for_status("jwt", with_new, 200, 4000ms)) << "the new JWKS was not used within 4 s";
  EXPECT_EQ(get("jwt", {{"Authorization", "Bearer " + token()}}).status, 401);  // the old key is gone
}

TEST_F(Auth, ReloadKeepsKeysAndRefusesABrokenJwks) {
  const auto created = admin("POST", "/admin/keys", R"({"name":"svc"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const header_list with_key{{"X-API-Key", json::parse(created.body).at("key").get<std::string>()}};
  const header_list with_token{{"Authorization", "Bearer " + token()}};

  const auto reloaded = admin("POST", "/admin/reload");
  ASSERT_EQ(reloaded.status, 200) << reloaded.body;
  EXPECT_EQ(get("required", with_key).status, 200);
  EXPECT_EQ(get("jwt", with_token).status, 200);

  write_file(jwks_, R"({"keys": 5})");
  const auto rejected = admin("POST", "/admin/reload");
  EXPECT_EQ(rejected.status, 400);
  EXPECT_NE(rejected.body.find("auth.jwt.jwks_file"), std::string::npos) << rejected.body;
  std::this_thread::sleep_for(1500ms);  // the poll thread has seen the broken file too
  EXPECT_EQ(get("jwt", with_token).status, 200);  // the previous keys stay
  EXPECT_EQ(get("required", with_key).status, 200);
}

}  // namespace
}  // namespace bulwark::test
