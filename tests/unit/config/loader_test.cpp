// The loader end to end: YAML text in, a validated gateway_config or every
// error (as `bulwark check` prints it) out.
#include "config/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_configs.h"

namespace bulwark::config {
namespace {

using namespace std::chrono_literals;
using test::errors_of;
using testing::ElementsAre;

TEST(loader, minimal_config_takes_every_default) {
  const auto result = load_string(test::minimal_yaml, "min.yaml");
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const gateway_config& c = *result.config;
  EXPECT_EQ(c.source_file, "min.yaml");
  EXPECT_EQ(c.workers, 0u);
  ASSERT_EQ(c.listeners.size(), 1u);
  EXPECT_EQ(c.listeners[0].name, "public");
  EXPECT_EQ(c.listeners[0].bind.host, "127.0.0.1");
  EXPECT_EQ(c.listeners[0].bind.port, 0);
  const listener_limits defaults;
  EXPECT_EQ(c.listeners[0].limits.max_connections, defaults.max_connections);
  EXPECT_EQ(c.listeners[0].limits.shed_at, defaults.shed_at);
  EXPECT_EQ(c.listeners[0].limits.max_header_bytes, 16u * 1024);
  ASSERT_EQ(c.upstreams.size(), 1u);
  EXPECT_EQ(c.upstreams[0].endpoints[0].text(), "127.0.0.1:9000");
  EXPECT_EQ(c.upstreams[0].balance_policy, balance::round_robin);
  EXPECT_EQ(c.upstreams[0].pool.max_idle, 64u);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].upstream_index, 0u);
  EXPECT_EQ(c.routes[0].timeout, duration(15s));
  EXPECT_FALSE(c.routes[0].retry.per_try_timeout);
  EXPECT_FALSE(c.routes[0].match.path_prefix);
  EXPECT_EQ(c.observe.request_id_header, "X-Request-Id");
  EXPECT_EQ(c.admin_server.bind.text(), "127.0.0.1:9901");
}

TEST(loader, full_config_sets_every_field) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const gateway_config& c = *result.config;
  EXPECT_EQ(c.source_file, "<string>");
  EXPECT_EQ(c.workers, 4u);
  const listener_limits& limits = c.listeners[0].limits;
  EXPECT_EQ(c.listeners[0].bind.text(), "0.0.0.0:8080");
  EXPECT_EQ(limits.max_connections, 5000u);
  EXPECT_EQ(limits.max_connections_per_ip, 100u);
  EXPECT_DOUBLE_EQ(limits.shed_at, 0.9);
  EXPECT_EQ(limits.idle_timeout, duration(2min));
  EXPECT_EQ(limits.header_timeout, duration(5s));
  EXPECT_EQ(limits.max_header_bytes, 32u * 1024);
  EXPECT_EQ(limits.max_body_bytes, uint64_t{1} << 30);
  EXPECT_EQ(c.listeners[1].bind.host, "::1");
  EXPECT_EQ(c.listeners[1].bind.port, 8081);

  const upstream& api = c.upstreams[0];
  ASSERT_EQ(api.endpoints.size(), 2u);
  EXPECT_EQ(api.endpoints[1].host, "backend.internal");
  EXPECT_EQ(api.endpoints[1].port, 9001);
  EXPECT_EQ(api.balance_policy, balance::least_request);
  EXPECT_EQ(api.connect_timeout, duration(250ms));
  EXPECT_EQ(api.pool.max_connections, 128u);
  EXPECT_EQ(api.pool.max_idle, 32u);
  EXPECT_EQ(api.pool.idle_timeout, duration(1h));
  EXPECT_EQ(api.max_pending, 0u);
  EXPECT_EQ(c.upstreams[1].balance_policy, balance::random);

  const route& login = c.routes[0];
  EXPECT_EQ(login.match.path_prefix, "/api/auth");
  EXPECT_EQ(login.match.host, "api.example.com");
  EXPECT_EQ(login.match.methods, (std::vector<std::string>{"POST", "PUT"}));
  ASSERT_EQ(login.match.headers.size(), 2u);
  EXPECT_EQ(login.match.headers[0].name, "X-Tenant");
  EXPECT_EQ(login.match.headers[0].value, "acme");
  EXPECT_EQ(login.timeout, duration(10s));
  EXPECT_EQ(login.retry.per_try_timeout, duration(2s));
  EXPECT_EQ(login.upstream_index, 0u);
  EXPECT_EQ(c.routes[1].match.path, "/healthz");
  EXPECT_EQ(c.routes[1].upstream_index, 1u);
  EXPECT_EQ(c.observe.request_id_header, "X-Correlation-Id");
  EXPECT_EQ(c.admin_server.bind.port, 0);
}

TEST(loader, empty_maps_keep_their_defaults) {
  const auto result = load_string(R"(listeners:
  - {name: a, address: "127.0.0.1:0", limits: {}}
upstreams:
  - {name: u, endpoints: ["localhost:80"], pool:}
routes:
  - {name: r, upstream: u, retry:, match: {}}
observability:
admin: {}
)");
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->upstreams[0].pool.max_connections, 256u);
}

TEST(loader, quoted_numbers_are_read_like_plain_ones) {
  const auto result = load_string(R"(workers: "2"
listeners: [{name: a, address: "127.0.0.1:0", limits: {max_connections: "10"}}]
upstreams: [{name: u, endpoints: [localhost:80]}]
routes: [{name: r, upstream: u}]
)");
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->workers, 2u);
  EXPECT_EQ(result.config->listeners[0].limits.max_connections, 10u);
}

// --- one error at a time, exactly as printed -------------------------------------------

TEST(loader_errors, workers) {
  EXPECT_THAT(errors_of(std::string("workers: 0\n") + std::string(test::minimal_yaml)),
              ElementsAre("test.yaml:1:10: workers: must be from 1 to 1024 (got 0)"));
  EXPECT_THAT(
      errors_of(std::string("workers: many\n") + std::string(test::minimal_yaml)),
      ElementsAre(
          "test.yaml:1:10: workers: expected auto or a whole number from 1 to 1024 (got many)"));
  EXPECT_THAT(
      errors_of(std::string("workers: [1]\n") + std::string(test::minimal_yaml)),
      ElementsAre(
          "test.yaml:1:10: workers: expected auto or a whole number from 1 to 1024 (got a list)"));
}

TEST(loader_errors, listener_limits) {
  EXPECT_THAT(
      errors_of(R"(listeners:
  - name: public
    address: 127.0.0.1:8080
    limits:
      max_connections: 0
      max_connections_per_ip: -1
      shed_at: 1.5
      idle_timeout: 0s
      header_timeout: 10
      max_header_bytes: 512
      max_body_bytes: 10MB
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes: [{name: all, upstream: api}]
)"),
      ElementsAre(
          "test.yaml:5:24: listeners[0].limits.max_connections: must be from 1 to 4294967295 (got "
          "0)",
          "test.yaml:6:31: listeners[0].limits.max_connections_per_ip: must be from 0 to "
          "4294967295 (got -1)",
          "test.yaml:7:16: listeners[0].limits.shed_at: must be greater than 0 and at most 1 (got "
          "1.5)",
          "test.yaml:8:21: listeners[0].limits.idle_timeout: must be greater than 0 (got 0s)",
          "test.yaml:9:23: listeners[0].limits.header_timeout: missing unit; expected a duration "
          "like "
          "250ms, 5s, 2m or 1h (got 10)",
          "test.yaml:10:25: listeners[0].limits.max_header_bytes: must be at least 1KiB: a request "
          "line, Host and a few usual headers need that much (got 512)",
          "test.yaml:11:23: listeners[0].limits.max_body_bytes: sizes use binary units: write "
          "10MiB "
          "(10 x 1024^2 bytes), not 10MB (got 10MB)"));
}

TEST(loader_errors, shed_at_must_be_a_share) {
  EXPECT_THAT(errors_of(R"(listeners: [{name: a, address: "127.0.0.1:0", limits: {shed_at: 85%}}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes: [{name: all, upstream: api}]
)"),
              ElementsAre("test.yaml:1:65: listeners[0].limits.shed_at: expected a number greater "
                          "than 0 and at most "
                          "1, like 0.85 (got 85%)"));
}

TEST(loader_errors, addresses) {
  EXPECT_THAT(errors_of(R"(listeners:
  - {name: a, address: 0.0.0.0}
  - {name: b, address: "0.0.0.0:70000"}
  - {name: c, address: "::1:80"}
upstreams: [{name: api, endpoints: [127.0.0.1:0, ":80", "bad host:80"]}]
routes: [{name: all, upstream: api}]
admin: {address: localhost}
)"),
              ElementsAre("test.yaml:2:24: listeners[0].address: expected host:port, like "
                          "127.0.0.1:8080 (got 0.0.0.0)",
                          "test.yaml:3:24: listeners[1].address: expected a port from 0 to 65535 "
                          "after the host (0: the "
                          "OS chooses) (got 0.0.0.0:70000)",
                          "test.yaml:4:24: listeners[2].address: write an IPv6 address in "
                          "brackets, like [::1]:8080 (got "
                          "::1:80)",
                          "test.yaml:5:37: upstreams[0].endpoints[0]: expected a port from 1 to "
                          "65535 after the host (got "
                          "127.0.0.1:0)",
                          "test.yaml:5:50: upstreams[0].endpoints[1]: expected host:port, like "
                          "127.0.0.1:8080 (got :80)",
                          "test.yaml:5:57: upstreams[0].endpoints[2]: expected a host name or IP "
                          "address before the port, "
                          "like 127.0.0.1:8080 (got bad host:80)",
                          "test.yaml:7:18: admin.address: expected host:port, like 127.0.0.1:8080 "
                          "(got localhost)"));
}

TEST(loader_errors, listener_addresses_are_unique_except_port_zero) {
  EXPECT_THAT(
      errors_of(R"(listeners:
  - {name: a, address: "127.0.0.1:8080"}
  - {name: b, address: "127.0.0.1:0"}
  - {name: c, address: "127.0.0.1:0"}
  - {name: d, address: "127.0.0.1:8080"}
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes: [{name: all, upstream: api}]
)"),
      ElementsAre(
          "test.yaml:5:24: listeners[3].address: listeners[0] already listens on this address (got "
          "127.0.0.1:8080)"));
}

TEST(loader_errors, admin_address_must_differ_from_listeners) {
  EXPECT_THAT(
      errors_of(R"(listeners: [{name: a, address: "127.0.0.1:9901"}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes: [{name: all, upstream: api}]
)"),
      ElementsAre("test.yaml:1:32: listeners[0].address: the admin server listens on this address "
                  "(admin.address defaults to 127.0.0.1:9901) (got 127.0.0.1:9901)"));
  EXPECT_THAT(
      errors_of(R"(listeners: [{name: a, address: "127.0.0.1:8000"}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes: [{name: all, upstream: api}]
admin: {address: "127.0.0.1:8000"}
)"),
      ElementsAre(
          "test.yaml:4:18: admin.address: listeners[0] already listens on this address (got "
          "127.0.0.1:8000)"));
}

TEST(loader_errors, names_are_required_non_empty_and_unique) {
  EXPECT_THAT(
      errors_of(R"(listeners:
  - {name: a, address: "127.0.0.1:0"}
  - {name: a, address: "127.0.0.1:0"}
upstreams:
  - {endpoints: [127.0.0.1:9000]}
  - {name: "", endpoints: [127.0.0.1:9000]}
routes:
  - {name: r, upstream: api}
  - {name: r, upstream: api}
)"),
      ElementsAre(
          "test.yaml:3:12: listeners[1].name: duplicate listener name; listeners[0] has it already "
          "(got a)",
          "test.yaml:5:5: upstreams[0].name: required field is missing",
          "test.yaml:6:12: upstreams[1].name: must not be empty",
          "test.yaml:9:12: routes[1].name: duplicate route name; routes[0] has it already (got "
          "r)"));
}

TEST(loader_errors, at_least_one_of_each_kind) {
  EXPECT_THAT(errors_of("listeners: []\nupstreams: []\nroutes: []\n"),
              ElementsAre("test.yaml:1:12: listeners: at least one listener is required",
                          "test.yaml:2:12: upstreams: at least one upstream is required",
                          "test.yaml:3:9: routes: at least one route is required"));
  EXPECT_THAT(errors_of("workers: auto\n"),
              ElementsAre("test.yaml:1:1: listeners: required field is missing",
                          "test.yaml:1:1: upstreams: required field is missing",
                          "test.yaml:1:1: routes: required field is missing"));
}

TEST(loader_errors, upstream_fields) {
  EXPECT_THAT(
      errors_of(R"(listeners: [{name: a, address: "127.0.0.1:0"}]
upstreams:
  - name: api
    endpoints: 127.0.0.1:9000
    balance: round-robin
    connect_timeout: 1.5s
    pool: {max_connections: 10, max_idle: 20}
  - name: web
    endpoints: []
    pool: {max_connections: 8}
routes: [{name: all, upstream: api}]
)"),
      ElementsAre(
          "test.yaml:4:16: upstreams[0].endpoints: expected a list (got 127.0.0.1:9000)",
          "test.yaml:5:14: upstreams[0].balance: expected round_robin, least_request or random; "
          "did you "
          "mean `round_robin`? (got round-robin)",
          "test.yaml:6:22: upstreams[0].connect_timeout: fractions are not supported: write 1500ms "
          "rather than 1.5s; expected a duration like 250ms, 5s, 2m or 1h (got 1.5s)",
          "test.yaml:7:43: upstreams[0].pool.max_idle: must be at most pool.max_connections (10) "
          "(got "
          "20)",
          "test.yaml:9:16: upstreams[1].endpoints: at least one endpoint is required"));
}

TEST(loader, default_max_idle_shrinks_to_a_smaller_pool) {
  const auto result = load_string(R"(listeners: [{name: a, address: "127.0.0.1:0"}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000], pool: {max_connections: 8}}]
routes: [{name: all, upstream: api}]
)");
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->upstreams[0].pool.max_idle, 8u);
}

TEST(loader_errors, route_upstream_must_exist) {
  EXPECT_THAT(
      errors_of(R"(listeners: [{name: a, address: "127.0.0.1:0"}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}, {name: web, endpoints: [127.0.0.1:9001]}]
routes:
  - {name: one, upstream: apii}
  - {name: two, upstream: payments}
)"),
      ElementsAre("test.yaml:4:27: routes[0].upstream: no upstream has this name; did you mean "
                  "`api`? (got apii)",
                  "test.yaml:5:27: routes[1].upstream: no upstream has this name (got payments)"));
}

TEST(loader_errors, route_match) {
  EXPECT_THAT(
      errors_of(R"(listeners: [{name: a, address: "127.0.0.1:0"}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes:
  - name: one
    upstream: api
    match:
      path_prefix: api
      host: "api.example.com:443"
      methods: [get, "GE T", POST]
      headers: {X-Tenant: acme, x-tenant: other, "Bad Name": x}
  - name: two
    upstream: api
    match: {path: /a, path_prefix: /b, headers: [X-A]}
)"),
      ElementsAre(
          "test.yaml:7:20: routes[0].match.path_prefix: must start with / (got api)",
          "test.yaml:8:13: routes[0].match.host: expected a host name without a port, like "
          "api.example.com (got api.example.com:443)",
          "test.yaml:9:17: routes[0].match.methods[0]: expected an HTTP method in upper case, like "
          "GET "
          "or POST (got get)",
          "test.yaml:9:22: routes[0].match.methods[1]: expected an HTTP method in upper case, like "
          "GET "
          "or POST (got GE T)",
          "test.yaml:10:43: routes[0].match.headers.x-tenant: header names are case-insensitive: "
          "this "
          "is X-Tenant again (got other)",
          "test.yaml:10:62: routes[0].match.headers.Bad Name: expected a header name: letters, "
          "digits "
          "and !#$%&'*+-.^_`|~ (got Bad Name)",
          "test.yaml:13:19: routes[1].match.path: set either path or path_prefix, not both (got "
          "/a)",
          "test.yaml:13:49: routes[1].match.headers: expected a map of header name to value (got a "
          "list)"));
}

TEST(loader_errors, per_try_timeout_within_the_route_timeout) {
  EXPECT_THAT(errors_of(R"(listeners: [{name: a, address: "127.0.0.1:0"}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes:
  - {name: one, upstream: api, timeout: 2s, retry: {per_try_timeout: 3s}}
  - {name: two, upstream: api, retry: {per_try_timeout: 20s}}
  - {name: ok, upstream: api, timeout: 2s, retry: {per_try_timeout: 2s}}
)"),
              ElementsAre("test.yaml:4:70: routes[0].retry.per_try_timeout: must be at most the "
                          "route's timeout (2s) "
                          "(got 3s)",
                          "test.yaml:5:57: routes[1].retry.per_try_timeout: must be at most the "
                          "route's timeout (15s) "
                          "(got 20s)"));
}

TEST(loader_errors, request_id_header_is_a_token) {
  EXPECT_THAT(
      errors_of(std::string(test::minimal_yaml) +
                "observability: {request_id_header: \"X Request\"}\n"),
      ElementsAre("test.yaml:10:36: observability.request_id_header: expected a header name, like "
                  "X-Request-Id (got X Request)"));
}

TEST(loader_errors, unknown_fields_get_a_hint_when_one_is_close) {
  EXPECT_THAT(
      errors_of(R"(listeners:
  - name: a
    address: "127.0.0.1:0"
    limits: {idle_timeot: 5s, maximum: 3}
upstreams: [{name: api, endpoints: [127.0.0.1:9000], balanse: random}]
routes: [{name: r, upstream: api, macth: {path: /}}]
upstream: []
)"),
      ElementsAre(
          "test.yaml:4:14: listeners[0].limits.idle_timeot: unknown field; did you mean "
          "`idle_timeout`?",
          "test.yaml:4:31: listeners[0].limits.maximum: unknown field; expected max_connections, "
          "max_connections_per_ip, shed_at, idle_timeout, header_timeout, max_header_bytes or "
          "max_body_bytes",
          "test.yaml:5:54: upstreams[0].balanse: unknown field; did you mean `balance`?",
          "test.yaml:6:35: routes[0].macth: unknown field; did you mean `match`?",
          "test.yaml:7:1: upstream: unknown field; did you mean `upstreams`?"));
}

TEST(loader_errors, designed_fields_are_not_supported_yet) {
  EXPECT_THAT(errors_of(R"(listeners:
  - name: a
    address: "127.0.0.1:0"
    tls: {cert: cert.pem, key: key.pem}
upstreams:
  - name: api
    endpoints: [127.0.0.1:9000]
routes:
  - name: r
    upstream: api
    cache: {ttl: 30s}
    websocket: {max_per_key: 5}
cache: {memory: 256MiB}
)"),
              ElementsAre("test.yaml:4:5: listeners[0].tls: not supported yet",
                          "test.yaml:11:5: routes[0].cache: not supported yet",
                          "test.yaml:12:5: routes[0].websocket: not supported yet",
                          "test.yaml:13:1: cache: not supported yet"));
}

TEST(loader_errors, type_errors_are_errors) {
  EXPECT_THAT(
      errors_of(R"(listeners: {name: a}
upstreams:
  - name: [api]
    endpoints: [{host: a}]
    pool: 5
routes:
  - just a string
)"),
      ElementsAre("test.yaml:1:12: listeners: expected a list (got a map)",
                  "test.yaml:3:11: upstreams[0].name: expected a non-empty string (got a list)",
                  "test.yaml:4:17: upstreams[0].endpoints[0]: expected host:port, like "
                  "127.0.0.1:8080 (got a map)",
                  "test.yaml:5:11: upstreams[0].pool: expected a map of fields (got 5)",
                  "test.yaml:7:5: routes[0]: expected a map of fields (got just a string)"));
}

TEST(loader_errors, duplicate_keys) {
  EXPECT_THAT(errors_of(std::string(test::minimal_yaml) + "routes: []\n"),
              ElementsAre("test.yaml:10:1: routes: duplicate field; it is already set on line 7"));
}

TEST(loader_errors, several_errors_come_in_file_order) {
  // The cross-field error (line 2) is found after the field errors of lines 3
  // and 5, yet is printed first.
  const auto lines = errors_of(R"(listeners:
  - {name: a, address: "127.0.0.1:9901"}
  - {name: b, address: "127.0.0.1:0", limits: {shed_at: 0}}
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes: [{name: r, upstream: ap, timeout: soon}]
)");
  EXPECT_THAT(
      lines,
      ElementsAre(
          "test.yaml:2:24: listeners[0].address: the admin server listens on this address "
          "(admin.address defaults to 127.0.0.1:9901) (got 127.0.0.1:9901)",
          "test.yaml:3:57: listeners[1].limits.shed_at: must be greater than 0 and at most 1 "
          "(got 0)",
          "test.yaml:5:30: routes[0].upstream: no upstream has this name; did you mean `api`? "
          "(got ap)",
          "test.yaml:5:43: routes[0].timeout: expected a duration like 250ms, 5s, 2m or 1h (got "
          "soon)"));
}

TEST(loader_errors, yaml_syntax_errors_have_a_position) {
  EXPECT_THAT(errors_of("listeners: [\n  {name: a\n"),
              ElementsAre("test.yaml:3:1: invalid YAML: end of map flow not found"));
  EXPECT_THAT(errors_of("workers: auto\n  listeners: x: y\n"),
              ElementsAre("test.yaml:2:12: invalid YAML: illegal map value"));
  EXPECT_THAT(errors_of("routes: *undefined\n"),
              ElementsAre("test.yaml:1:9: invalid YAML: the referenced anchor is not defined"));
}

TEST(loader_errors, document_shape) {
  EXPECT_THAT(
      errors_of(""),
      ElementsAre("test.yaml:1:1: the file is empty; expected a map with listeners, upstreams "
                  "and routes"));
  EXPECT_THAT(
      errors_of("- a\n"),
      ElementsAre(
          "test.yaml:1:1: expected a map with listeners, upstreams and routes (got a list)"));
  EXPECT_THAT(
      errors_of(std::string(test::minimal_yaml) + "---\nworkers: 2\n"),
      ElementsAre(
          "test.yaml:11:1: expected one YAML document; remove the `---` and what follows it"));
}

TEST(loader_errors, values_are_shown_on_one_short_line) {
  const std::string long_name(200, 'x');
  const auto lines = errors_of(std::string(test::minimal_yaml) + "workers: |\n  two\n  lines\n" +
                               "observability: {request_id_header: " + long_name + "!(}\n");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0],
            "test.yaml:10:10: workers: expected auto or a whole number from 1 to 1024 (got "
            "two\\nlines\\n)");
  EXPECT_EQ(lines[1],
            "test.yaml:13:36: observability.request_id_header: expected a header name, like "
            "X-Request-Id (got " +
                std::string(80, 'x') + "...)");
}

TEST(loader_errors, error_without_position_or_value) {
  EXPECT_EQ((error{"a.yaml", 0, 0, "", "cannot read the file", ""}).to_string(),
            "a.yaml: cannot read the file");
  EXPECT_EQ((error{"a.yaml", 3, 7, "workers", "bad", "x"}).to_string(),
            "a.yaml:3:7: workers: bad (got x)");
}

TEST(loader, load_file_reads_a_file_and_names_it_in_errors) {
  const auto dir = std::filesystem::temp_directory_path() / "bulwark_loader_test";
  std::filesystem::create_directories(dir);
  const auto file = (dir / "gateway.yaml").string();
  {
    std::ofstream out(file);
    out << test::minimal_yaml << "workers: 0\n";
  }
  const auto result = load_file(file);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(), file + ":10:10: workers: must be from 1 to 1024 (got 0)");
  EXPECT_EQ(result.config, nullptr);
  std::filesystem::remove_all(dir);
}

TEST(loader, load_file_on_a_missing_file_is_an_error) {
  const auto result = load_file("/nonexistent/bulwark.yaml");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(result.config, nullptr);
  EXPECT_THAT(result.errors, testing::SizeIs(1));
  EXPECT_EQ(result.errors[0].to_string(),
            "/nonexistent/bulwark.yaml: cannot read the file: No such file or directory");
  EXPECT_EQ(load_file(std::filesystem::temp_directory_path().string()).errors[0].message,
            "cannot read the file: it is a directory");
}

}  // namespace
}  // namespace bulwark::config
