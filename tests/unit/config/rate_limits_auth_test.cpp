// routes[].rate_limits, routes[].auth and the top-level auth: defaults, the
// full example, each refusal as `bulwark check` prints it, and the checks
// that tie a route's keys and auth modes to the top-level auth.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "config/loader.h"
#include "test_configs.h"

namespace bulwark::config {
namespace {

using namespace std::chrono_literals;
using test::errors_of;
using test::route_errors;
using test::with_route;
using testing::ElementsAre;


std::shared_ptr<const gateway_config> load_route_with(std::string_view fields) {
  const auto result = load_string(with_route(fields));
  EXPECT_TRUE(result.ok()) << result.errors.front().to_string();
  return result.config;
}


// --- rate limits --------------------------------------------------------------------

TEST(rate_limits_config, none_by_default_and_an_empty_list_is_none) {
  EXPECT_TRUE(load_route_with("")->routes[0].rate_limits.empty());
  EXPECT_TRUE(load_route_with("    rate_limits: []\n")->routes[0].rate_limits.empty());
}

TEST(rate_limits_config, defaults_of_a_policy) {
  const auto config = load_route_with("    rate_limits: [{name: per-ip, rate: 5/min}]\n");
  ASSERT_TRUE(config);
  ASSERT_EQ(config->routes[0].rate_limits.size(), 1u);
  const rate_limit_policy& policy = config->routes[0].rate_limits[0];
  EXPECT_EQ(policy.name, "per-ip");
  EXPECT_EQ(policy.key.source, limit_key::kind::client_ip);
  EXPECT_EQ(policy.key.text(), "client_ip");
  EXPECT_DOUBLE_EQ(policy.rate_per_second, 5.0 / 60);
  EXPECT_DOUBLE_EQ(policy.rate_per_period, 5);
  EXPECT_EQ(policy.rate_period, duration(60s));
  EXPECT_EQ(policy.burst, 5u);  // the count per period
  EXPECT_EQ(policy.algorithm, limit_algorithm::token_bucket);
  EXPECT_EQ(policy.scope, limit_scope::local);
  EXPECT_EQ(policy.max_keys, 100000u);
}

TEST(rate_limits_config, rates_record_count_and_period_as_written) {
  const auto config = load_route_with(R"(    rate_limits:
      - {name: a, rate: 1000/h}
      - {name: b, rate: 100/s, burst: 1}
      - {name: c, rate: 1/s}
)");
  ASSERT_TRUE(config);
  const auto& limits = config->routes[0].rate_limits;
  EXPECT_DOUBLE_EQ(limits[0].rate_per_period, 1000);
  EXPECT_EQ(limits[0].rate_period, duration(1h));
  EXPECT_DOUBLE_EQ(limits[0].rate_per_second, 1000.0 / 3600);
  EXPECT_EQ(limits[0].burst, 1000u);
  EXPECT_DOUBLE_EQ(limits[1].rate_per_second, 100);
  EXPECT_EQ(limits[1].rate_period, duration(1s));
  EXPECT_EQ(limits[1].burst, 1u);
  EXPECT_EQ(limits[2].burst, 1u);
}

TEST(rate_limits_config, full_example) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const auto& limits = result.config->routes[0].rate_limits;
  ASSERT_EQ(limits.size(), 3u);
  EXPECT_EQ(limits[0].burst, 10u);
  EXPECT_EQ(limits[0].algorithm, limit_algorithm::gcra);
  EXPECT_EQ(limits[0].max_keys, 5000u);
  EXPECT_EQ(limits[1].key.source, limit_key::kind::jwt_claim);
  EXPECT_EQ(limits[1].key.name, "sub");
  EXPECT_EQ(limits[1].key.text(), "jwt:sub");
  EXPECT_EQ(limits[1].scope, limit_scope::local);
  EXPECT_EQ(limits[2].scope, limit_scope::cluster);
}

TEST(rate_limits_config, every_key_kind) {
  const auto config = load_route_with(R"(    auth: {api_key: required, jwt: optional}
    rate_limits:
      - {name: a, key: client_ip, rate: 1/s}
      - {name: b, key: api_key, rate: 1/s, algorithm: sliding_window}
      - {name: c, key: "jwt:tenant_id", rate: 1/s}
      - {name: d, key: "header:X-Tenant", rate: 1/s}
      - {name: e, key: route, rate: 1/s}
      - {name: f, key: global, rate: 1/s}
auth: {api_keys: {}, jwt: {jwks_file: jwks.json}}
)");
  ASSERT_TRUE(config);
  const auto& limits = config->routes[0].rate_limits;
  ASSERT_EQ(limits.size(), 6u);
  const std::vector<std::string> texts = {"client_ip",       "api_key", "jwt:tenant_id",
                                          "header:X-Tenant", "route",   "global"};
  for (std::size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(limits[i].key.text(), texts[i]);
  EXPECT_EQ(limits[3].key, (limit_key{limit_key::kind::header, "X-Tenant"}));
  EXPECT_EQ(limits[1].algorithm, limit_algorithm::sliding_window);
}

TEST(rate_limits_config, errors) {
  EXPECT_THAT(
      route_errors(R"(    rate_limits:
      - {name: "per \"ip\"", key: client-ip, rate: 5/m, burst: 0, algorithm: leaky_bucket}
      - {name: b, key: "jwt:", rate: 0/s, max_keys: 0, scope: global}
      - {name: c, key: "header:X Tenant", rate: 1.5/s}
      - {key: route}
      - 5/s
)"),
      ElementsAre(
          "test.yaml:7:16: routes[0].rate_limits[0].name: must be printable ASCII without \" or "
          "\\: it is sent in the RateLimit-Policy header (got per \"ip\")",
          "test.yaml:7:35: routes[0].rate_limits[0].key: expected client_ip, api_key, "
          "jwt:<claim>, header:<name>, route or global; did you mean `client_ip`? (got "
          "client-ip)",
          "test.yaml:7:52: routes[0].rate_limits[0].rate: write /min for a rate per minute; "
          "expected a rate like 100/s, 5/min or 1000/h (got 5/m)",
          "test.yaml:7:64: routes[0].rate_limits[0].burst: must be from 1 to 4294967295 (got 0)",
          "test.yaml:7:78: routes[0].rate_limits[0].algorithm: expected token_bucket, gcra or "
          "sliding_window (got leaky_bucket)",
          "test.yaml:8:24: routes[0].rate_limits[1].key: expected the claim's name after jwt:, "
          "like jwt:sub (got jwt:)",
          "test.yaml:8:38: routes[0].rate_limits[1].rate: a rate must be at least 1; expected a "
          "rate like 100/s, 5/min or 1000/h (got 0/s)",
          "test.yaml:8:53: routes[0].rate_limits[1].max_keys: must be from 1 to 4294967295 (got "
          "0)",
          "test.yaml:8:63: routes[0].rate_limits[1].scope: expected local or cluster; did you "
          "mean `local`? (got global)",
          "test.yaml:9:24: routes[0].rate_limits[2].key: expected a header name after header:, "
          "like header:X-Tenant (got header:X Tenant)",
          "test.yaml:9:49: routes[0].rate_limits[2].rate: fractions are not supported: write "
          "90/min rather than 1.5/s; expected a rate like 100/s, 5/min or 1000/h (got 1.5/s)",
          "test.yaml:10:9: routes[0].rate_limits[3].name: required field is missing",
          "test.yaml:10:9: routes[0].rate_limits[3].rate: required field is missing",
          "test.yaml:11:9: routes[0].rate_limits[4]: expected a map of fields (got 5/s)"));
}

TEST(rate_limits_config, names_are_unique_within_a_route_only) {
  EXPECT_THAT(route_errors(R"(    rate_limits:
      - {name: per-ip, rate: 1/s}
      - {name: per-ip, rate: 2/s}
  - name: s
    upstream: api
    rate_limits: [{name: per-ip, rate: 1/s}]
)"),
              ElementsAre("test.yaml:8:16: routes[0].rate_limits[1].name: duplicate rate limit "
                          "name; routes[0].rate_limits[0] has it already (got per-ip)"));
}

TEST(rate_limits_config, keys_need_the_credentials_they_count_by) {
  EXPECT_THAT(route_errors(R"(    rate_limits:
      - {name: a, key: api_key, rate: 1/s}
      - {name: b, key: "jwt:sub", rate: 1/s}
  - name: s
    upstream: api
    auth: {jwt: required, api_key: off}
    rate_limits: [{name: a, key: api_key, rate: 1/s}, {name: b, key: "jwt:sub", rate: 1/s}]
auth: {jwt: {jwks_file: jwks.json}}
)"),
              ElementsAre("test.yaml:7:24: routes[0].rate_limits[0].key: counts by API key, so "
                          "the route needs auth: {api_key: required} (or optional) (got api_key)",
                          "test.yaml:8:24: routes[0].rate_limits[1].key: counts by a JWT claim, "
                          "so the route needs auth: {jwt: required} (or optional) (got jwt:sub)",
                          "test.yaml:12:34: routes[1].rate_limits[0].key: counts by API key, so "
                          "the route needs auth: {api_key: required} (or optional) (got "
                          "api_key)"));
}

// --- route auth ---------------------------------------------------------------------

TEST(route_auth_config, defaults) {
  EXPECT_FALSE(load_route_with("")->routes[0].auth);
  const auto config = load_route_with("    auth: {}\n");
  ASSERT_TRUE(config->routes[0].auth);
  const route_auth& auth = *config->routes[0].auth;
  EXPECT_EQ(auth, route_auth{});
  EXPECT_EQ(auth.api_key, auth_mode::off);
  EXPECT_EQ(auth.jwt, auth_mode::off);
  EXPECT_TRUE(auth.scopes.empty());
  EXPECT_EQ(auth.subject_header, "X-Auth-Subject");
  EXPECT_EQ(auth.scopes_header, "");
}

// yaml-cpp keeps every scalar as written, so `off` (a boolean in YAML 1.1) is
// the string "off" here, the same as `"off"`.
TEST(route_auth_config, off_is_read_as_the_mode_not_a_boolean) {
  const auto config = load_route_with(R"(    auth: {api_key: off, jwt: "off"}
  - name: s
    upstream: api
    auth: {api_key: optional, jwt: off, subject_header: ""}
auth: {api_keys: {}}
)");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->routes[0].auth->api_key, auth_mode::off);
  EXPECT_EQ(config->routes[0].auth->jwt, auth_mode::off);
  EXPECT_EQ(config->routes[1].auth->api_key, auth_mode::optional);
  EXPECT_EQ(config->routes[1].auth->subject_header, "");
}

TEST(route_auth_config, full_example) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const auto& auth = result.config->routes[0].auth;
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->api_key, auth_mode::optional);
  EXPECT_EQ(auth->jwt, auth_mode::required);
  EXPECT_EQ(auth->scopes, (std::vector<std::string>{"orders:read"}));
  EXPECT_EQ(auth->subject_header, "X-User");
  EXPECT_EQ(auth->scopes_header, "X-Scopes");
}

TEST(route_auth_config, field_errors) {
  EXPECT_THAT(
      route_errors(R"(    auth:
      api_key: false
      jwt: requird
      scopes: ["orders read", ""]
      subject_header: "X User"
auth: {api_keys: {}, jwt: {jwks_file: j.json}}
)"),
      ElementsAre("test.yaml:7:16: routes[0].auth.api_key: expected required, optional or off "
                  "(got false)",
                  "test.yaml:8:12: routes[0].auth.jwt: expected required, optional or off; did "
                  "you mean `required`? (got requird)",
                  "test.yaml:9:16: routes[0].auth.scopes[0]: expected a scope like orders:read "
                  "(no spaces) (got orders read)",
                  "test.yaml:9:31: routes[0].auth.scopes[1]: expected a scope like orders:read "
                  "(no spaces)",
                  "test.yaml:10:23: routes[0].auth.subject_header: expected a header name, like "
                  "X-Request-Id (got X User)"));
}

TEST(route_auth_config, modes_need_the_top_level_auth) {
  EXPECT_THAT(
      route_errors(R"(    auth: {api_key: required, jwt: optional}
  - name: s
    upstream: api
    auth: {scopes: [admin]}
)"),
      ElementsAre("test.yaml:6:21: routes[0].auth.api_key: needs a key store: add auth.api_keys "
                  "at the top level (auth: {api_keys: {}} takes the defaults) (got required)",
                  "test.yaml:6:36: routes[0].auth.jwt: needs auth.jwt at the top level, with its "
                  "jwks_file (got optional)",
                  "test.yaml:9:20: routes[1].auth.scopes: need credentials to read scopes from: "
                  "set api_key or jwt on this route"));
}

// --- top-level auth -----------------------------------------------------------------

TEST(auth_config, defaults) {
  const auto none = load_route_with("");
  EXPECT_FALSE(none->auth.api_keys);
  EXPECT_FALSE(none->auth.jwt);
  const auto config = load_route_with("auth: {api_keys: {}, jwt: {jwks_file: keys/jwks.json}}\n");
  ASSERT_TRUE(config);
  ASSERT_TRUE(config->auth.api_keys);
  EXPECT_EQ(config->auth.api_keys->db, "./data/keys.db");  // load_string: no directory
  EXPECT_EQ(config->auth.api_keys->header, "X-API-Key");
  ASSERT_TRUE(config->auth.jwt);
  EXPECT_EQ(config->auth.jwt->issuer, "");
  EXPECT_TRUE(config->auth.jwt->audiences.empty());
  EXPECT_EQ(config->auth.jwt->jwks_file, "keys/jwks.json");
  EXPECT_EQ(config->auth.jwt->algorithms,
            (std::vector<jwt_algorithm>{jwt_algorithm::rs256, jwt_algorithm::es256}));
  EXPECT_EQ(config->auth.jwt->leeway, duration(30s));
}

TEST(auth_config, full_example) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const auth_settings& auth = result.config->auth;
  EXPECT_EQ(auth.api_keys->db, "/var/lib/bulwark/keys.db");
  EXPECT_EQ(auth.api_keys->header, "X-Key");
  EXPECT_EQ(auth.jwt->issuer, "https://issuer.example");
  EXPECT_EQ(auth.jwt->audiences, (std::vector<std::string>{"api", "web"}));
  EXPECT_EQ(auth.jwt->jwks_file, "/etc/bulwark/jwks.json");
  EXPECT_EQ(auth.jwt->algorithms,
            (std::vector<jwt_algorithm>{jwt_algorithm::es256, jwt_algorithm::hs256}));
  EXPECT_EQ(auth.jwt->leeway, duration::zero());
}

TEST(auth_config, errors) {
  EXPECT_THAT(
      errors_of(std::string(test::minimal_yaml) + R"(auth:
  api_keys: {db: "", header: "X Key"}
  jwt: {issuer: "", audiences: [api, ""], algorithms: [RS512, none], leeway: -1s}
  oauth: {}
)"),
      ElementsAre(
          "test.yaml:11:18: auth.api_keys.db: must not be empty",
          "test.yaml:11:30: auth.api_keys.header: expected a header name, like X-Request-Id (got "
          "X Key)",
          "test.yaml:12:8: auth.jwt.jwks_file: required field is missing",
          "test.yaml:12:17: auth.jwt.issuer: must not be empty",
          "test.yaml:12:38: auth.jwt.audiences[1]: must not be empty",
          "test.yaml:12:56: auth.jwt.algorithms[0]: expected HS256, RS256 or ES256 (got RS512)",
          "test.yaml:12:63: auth.jwt.algorithms[1]: expected HS256, RS256 or ES256 (got none)",
          "test.yaml:12:78: auth.jwt.leeway: must not be negative; expected a duration like "
          "250ms, 5s, 2m or 1h (got -1s)",
          "test.yaml:13:3: auth.oauth: unknown field; expected api_keys or jwt"));
  EXPECT_THAT(errors_of(std::string(test::minimal_yaml) +
                        "auth: {jwt: {jwks_file: j.json, algorithms: []}}\n"),
              ElementsAre("test.yaml:10:45: auth.jwt.algorithms: at least one algorithm is "
                          "required"));
}

TEST(auth_config, relative_paths_are_resolved_against_the_config_directory) {
  const auto dir = std::filesystem::temp_directory_path() / "bulwark_auth_config_test";
  std::filesystem::create_directories(dir);
  const auto file = (dir / "gateway.yaml").string();
  {
    std::ofstream out(file);
    out << test::minimal_yaml
        << "auth:\n  api_keys: {}\n  jwt: {jwks_file: ../keys/jwks.json}\n";
  }
  const auto result = load_file(file);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->auth.api_keys->db, (dir / "data/keys.db").string());
  EXPECT_EQ(result.config->auth.jwt->jwks_file,
            (dir.parent_path() / "keys/jwks.json").string());
  {
    std::ofstream out(file);
    out << test::minimal_yaml
        << "auth: {api_keys: {db: /srv/keys.db}, jwt: {jwks_file: /srv/jwks.json}}\n";
  }
  const auto absolute = load_file(file);
  ASSERT_TRUE(absolute.ok()) << absolute.errors.front().to_string();
  EXPECT_EQ(absolute.config->auth.api_keys->db, "/srv/keys.db");
  EXPECT_EQ(absolute.config->auth.jwt->jwks_file, "/srv/jwks.json");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace bulwark::config
