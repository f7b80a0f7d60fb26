// router: first match in file order wins; each criterion of a route_match
// (exact path, prefix, host without port and case, methods, headers) narrows
// the match; target_path and host_without_port on the request-target and Host
// forms a client can send (RFC 9112 §3.2).
#include "proxy/router.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace bulwark::proxy {
namespace {

config::route make_route(std::string name, config::route_match match) {
  config::route route;
  route.name = std::move(name);
  route.match = std::move(match);
  return route;
}

// A request whose header lookup reads from `headers` (names as stored: the
// router asks by the configured name, case-insensitivity is the caller's job).
struct fake_request {
  std::string method = "GET";
  std::string path = "/";
  std::string host = "example.com";
  std::map<std::string, std::string> headers;

  request_view view() const {
    return {method, path, host, [this](std::string_view name) -> std::optional<std::string_view> {
              const auto found = headers.find(std::string(name));
              if (found == headers.end()) return std::nullopt;
              return std::string_view(found->second);
            }};
  }
};

const char* matched_name(const router& r, const fake_request& request) {
  const auto* route = r.match(request.view());
  return route ? route->name.c_str() : "(none)";
}

TEST(router, first_match_in_file_order_wins) {
  const std::vector<config::route> routes = {
      make_route("auth", {.path_prefix = "/api/auth"}),
      make_route("api", {.path_prefix = "/api"}),
      make_route("auth_late", {.path_prefix = "/api/auth/login"}),
      make_route("catch_all", {}),
  };
  const router r(routes);
  EXPECT_STREQ(matched_name(r, {.path = "/api/auth/login"}), "auth");
  EXPECT_STREQ(matched_name(r, {.path = "/api/users"}), "api");
  EXPECT_STREQ(matched_name(r, {.path = "/static/x.css"}), "catch_all");
}

TEST(router, match_returns_a_pointer_into_the_routes) {
  const std::vector<config::route> routes = {make_route("a", {.path = "/a"}),
                                             make_route("b", {.path = "/b"})};
  const router r(routes);
  EXPECT_EQ(r.match(fake_request{.path = "/b"}.view()), &routes[1]);
}

TEST(router, no_match_gives_null) {
  const std::vector<config::route> routes = {make_route("a", {.path = "/a"})};
  const router r(routes);
  EXPECT_EQ(r.match(fake_request{.path = "/b"}.view()), nullptr);
  const std::vector<config::route> none;
  EXPECT_EQ(router(none).match(fake_request{}.view()), nullptr);
}

TEST(route_matches, empty_match_matches_everything) {
  EXPECT_TRUE(route_matches({}, fake_request{.method = "DELETE", .path = "/x", .host = ""}.view()));
}

TEST(route_matches, exact_path) {
  const config::route_match match{.path = "/healthz"};
  EXPECT_TRUE(route_matches(match, fake_request{.path = "/healthz"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/healthz/"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/healthzz"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/health"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/HEALTHZ"}.view()));
}

TEST(route_matches, path_prefix) {
  const config::route_match match{.path_prefix = "/api/"};
  EXPECT_TRUE(route_matches(match, fake_request{.path = "/api/"}.view()));
  EXPECT_TRUE(route_matches(match, fake_request{.path = "/api/v1/users"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/api"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/apix/"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/API/"}.view()));
  EXPECT_TRUE(route_matches({.path_prefix = "/"}, fake_request{.path = "/anything"}.view()));
}

TEST(route_matches, prefix_and_exact_both_required_when_both_set) {
  const config::route_match match{.path_prefix = "/api", .path = "/api/x"};
  EXPECT_TRUE(route_matches(match, fake_request{.path = "/api/x"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.path = "/api/y"}.view()));
}

TEST(route_matches, host_is_case_insensitive_and_ignores_the_port) {
  const config::route_match match{.host = "api.example.com"};
  EXPECT_TRUE(route_matches(match, fake_request{.host = "api.example.com"}.view()));
  EXPECT_TRUE(route_matches(match, fake_request{.host = "API.Example.COM"}.view()));
  EXPECT_TRUE(route_matches(match, fake_request{.host = "api.example.com:8080"}.view()));
  EXPECT_TRUE(route_matches(match, fake_request{.host = "Api.Example.Com:443"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.host = "example.com"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.host = "api.example.com.evil"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.host = ""}.view()));
}

TEST(route_matches, host_as_ipv6_literal) {
  const config::route_match match{.host = "[::1]"};
  EXPECT_TRUE(route_matches(match, fake_request{.host = "[::1]"}.view()));
  EXPECT_TRUE(route_matches(match, fake_request{.host = "[::1]:8080"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.host = "[::2]:8080"}.view()));
  const config::route_match upper{.host = "[fe80::abcd]"};
  EXPECT_TRUE(route_matches(upper, fake_request{.host = "[FE80::ABCD]:80"}.view()));
}

TEST(route_matches, methods_list) {
  const config::route_match match{.methods = {"POST", "PUT"}};
  EXPECT_TRUE(route_matches(match, fake_request{.method = "POST"}.view()));
  EXPECT_TRUE(route_matches(match, fake_request{.method = "PUT"}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.method = "GET"}.view()));
  // Methods are case-sensitive tokens (RFC 9110 §9.1).
  EXPECT_FALSE(route_matches(match, fake_request{.method = "post"}.view()));
}

TEST(route_matches, headers_all_must_match) {
  const config::route_match match{
      .headers = {{.name = "X-Tenant", .value = "acme"}, {.name = "X-Env", .value = "prod"}}};
  EXPECT_TRUE(route_matches(
      match, fake_request{.headers = {{"X-Tenant", "acme"}, {"X-Env", "prod"}}}.view()));
  EXPECT_FALSE(route_matches(
      match, fake_request{.headers = {{"X-Tenant", "acme"}, {"X-Env", "dev"}}}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.headers = {{"X-Tenant", "acme"}}}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{}.view()));
}

TEST(route_matches, header_value_is_exact) {
  const config::route_match match{.headers = {{.name = "X-Tenant", .value = "acme"}}};
  EXPECT_FALSE(route_matches(match, fake_request{.headers = {{"X-Tenant", "Acme"}}}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.headers = {{"X-Tenant", "acme2"}}}.view()));
  EXPECT_FALSE(route_matches(match, fake_request{.headers = {{"X-Tenant", ""}}}.view()));
}

TEST(route_matches, header_match_without_a_lookup_fails) {
  const config::route_match match{.headers = {{.name = "X-Tenant", .value = "acme"}}};
  request_view view{.method = "GET", .path = "/", .host = "h", .header = nullptr};
  EXPECT_FALSE(route_matches(match, view));
}

TEST(route_matches, every_criterion_must_hold) {
  const config::route_match match{.path_prefix = "/api",
                                  .host = "example.com",
                                  .methods = {"POST"},
                                  .headers = {{.name = "X-Tenant", .value = "acme"}}};
  const fake_request good{.method = "POST",
                          .path = "/api/x",
                          .host = "example.com:80",
                          .headers = {{"X-Tenant", "acme"}}};
  EXPECT_TRUE(route_matches(match, good.view()));
  auto wrong = good;
  wrong.method = "GET";
  EXPECT_FALSE(route_matches(match, wrong.view()));
  wrong = good;
  wrong.path = "/other";
  EXPECT_FALSE(route_matches(match, wrong.view()));
  wrong = good;
  wrong.host = "other.com";
  EXPECT_FALSE(route_matches(match, wrong.view()));
  wrong = good;
  wrong.headers.clear();
  EXPECT_FALSE(route_matches(match, wrong.view()));
}

TEST(target_path, origin_form) {
  EXPECT_EQ(target_path("/"), "/");
  EXPECT_EQ(target_path("/a/b"), "/a/b");
  EXPECT_EQ(target_path("/a/b?x=1&y=2"), "/a/b");
  EXPECT_EQ(target_path("/a?"), "/a");
  EXPECT_EQ(target_path("/a?b?c"), "/a");
  EXPECT_EQ(target_path("/?q"), "/");
}

TEST(target_path, absolute_form) {
  EXPECT_EQ(target_path("http://h/p?q"), "/p");
  EXPECT_EQ(target_path("http://h/p/q"), "/p/q");
  EXPECT_EQ(target_path("http://h"), "/");
  EXPECT_EQ(target_path("http://h:8080"), "/");
  EXPECT_EQ(target_path("http://h?q=1"), "/");
  EXPECT_EQ(target_path("http://h:8080/"), "/");
  EXPECT_EQ(target_path("https://user@h:8080/a/b?c"), "/a/b");
  EXPECT_EQ(target_path("http://[::1]:8080/a"), "/a");
}

TEST(target_path, asterisk_form_is_kept) {
  // OPTIONS * (RFC 9112 §3.2.4): not a path, never equal to a configured one.
  EXPECT_EQ(target_path("*"), "*");
  EXPECT_FALSE(route_matches({.path_prefix = "/"}, fake_request{.path = "*"}.view()));
}

TEST(target_path, empty_target_is_root) { EXPECT_EQ(target_path(""), "/"); }

TEST(host_without_port, names_and_ipv4) {
  EXPECT_EQ(host_without_port("example.com"), "example.com");
  EXPECT_EQ(host_without_port("example.com:8080"), "example.com");
  EXPECT_EQ(host_without_port("example.com:"), "example.com");
  EXPECT_EQ(host_without_port("127.0.0.1:80"), "127.0.0.1");
  EXPECT_EQ(host_without_port(""), "");
}

TEST(host_without_port, ipv6_literals) {
  EXPECT_EQ(host_without_port("[::1]"), "[::1]");
  EXPECT_EQ(host_without_port("[::1]:8080"), "[::1]");
  EXPECT_EQ(host_without_port("[2001:db8::1]:443"), "[2001:db8::1]");
  // Unterminated bracket: returned whole rather than cut at a colon inside it.
  EXPECT_EQ(host_without_port("[::1"), "[::1");
}

}  // namespace
}  // namespace bulwark::proxy
