// The rate-limit phase on a real request context: the fields on admitted
// responses, the 429 answer, an API key's rate override from the context, the
// client address through trusted proxies, routes without limits, and a policy
// that cannot be built.
#include "policy/ratelimit/ratelimit_phase.h"

#include <gtest/gtest.h>

#include <span>

#include "config/cidr.h"
#include "test_policies.h"
#include "unit/http/parsed_head.h"

namespace bulwark::policy::ratelimit {
namespace {

using namespace std::chrono_literals;
using namespace test;

std::string field(std::span<const std::pair<std::string, std::string>> fields,
                  std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return "<absent>";
}

class RateLimitPhaseTest : public ::testing::Test {
 protected:
  RateLimitPhaseTest() {
    config.listeners.push_back(config::listener{.name = "public"});
    config.routes.push_back(make_route("limited", {make_policy("per-ip", kind::client_ip, 2, 60s)}));
    config.routes.push_back(make_route("open", {}));
  }

  void build() {
    phase::phase_build_context context{nullptr, generation, problems};
    phase = std::make_unique<ratelimit_phase>(config, context);
  }

  // One request through the phase, from `peer`, on route `route` (null: none).
  struct outcome {
    phase::phase_result result;
    std::vector<std::pair<std::string, std::string>> response_headers;  // copies: ctx's end here
    std::optional<http::local_response> answer;
    std::optional<std::string> decision;
  };
  outcome send(std::string peer, const config::route* route,
               std::vector<std::string> forwarded_for = {}) {
    http::request<http::empty_body> sent{http::verb::get, "/", 11};
    for (const auto& value : forwarded_for) sent.insert("X-Forwarded-For", value);
    const auto request = http::test::as_read(sent.base());
    phase::request_context ctx{.config = config,
                               .listener = config.listeners.front(),
                               .request = request->get(),
                               .client_ip = std::move(peer),
                               .start = start,
                               .thread = 0};
    ctx.request_id = "req-1";
    ctx.route = route;
    ctx.auth_key_id = key_id;
    ctx.auth_key_rate = key_rate;
    outcome out;
    out.result = phase->decide(ctx, start);
    for (const auto& [name, value] : ctx.response_headers) out.response_headers.emplace_back(name, value);
    out.answer = ctx.answer;
    out.decision = ctx.ratelimit;
    return out;
  }

  config::gateway_config config;
  phase::carried_state carried;
  phase::carried_state::generation generation = carried.next();
  std::vector<std::string> problems;
  std::unique_ptr<ratelimit_phase> phase;
  // What the auth phase would have put in the context.
  std::string key_id;
  std::optional<core::rate> key_rate;
};

TEST_F(RateLimitPhaseTest, AdmittedResponsesCarryBothFields) {
  build();
  ASSERT_TRUE(problems.empty());
  const auto first = send("198.51.100.7", &config.routes[0]);
  EXPECT_EQ(first.result, phase::phase_result::proceed);
  EXPECT_EQ(field(first.response_headers, "RateLimit-Policy"), R"("per-ip";q=2;w=60)");
  EXPECT_EQ(field(first.response_headers, "RateLimit"), R"("per-ip";r=1;t=30)");
  EXPECT_EQ(first.decision, "allow");
  EXPECT_FALSE(first.answer);
}

TEST_F(RateLimitPhaseTest, ARefusalIs429ProblemWithRetryAfterAndTheFields) {
  build();
  send("198.51.100.7", &config.routes[0]);
  send("198.51.100.7", &config.routes[0]);
  const auto refused = send("198.51.100.7", &config.routes[0]);
  EXPECT_EQ(refused.result, phase::phase_result::respond);
  ASSERT_TRUE(refused.answer);
  EXPECT_EQ(refused.answer->status, 429u);
  EXPECT_EQ(refused.answer->content_type, "application/problem+json");
  EXPECT_NE(refused.answer->body.find(R"(rate limit \"per-ip\" exceeded)"), std::string::npos) << refused.answer->body;
  EXPECT_EQ(field(refused.answer->headers, "Retry-After"), "30");
  EXPECT_EQ(field(refused.answer->headers, "RateLimit-Policy"), R"("per-ip";q=2;w=60)");
  EXPECT_EQ(field(refused.answer->headers, "RateLimit"), R"("per-ip";r=0;t=60)");
  EXPECT_EQ(refused.decision, "deny");
}

// The accepted key's rate override reaches the phase through the context:
// admissions, the refusal and both fields follow it.
TEST_F(RateLimitPhaseTest, TheKeysRateOverrideFromTheContextApplies) {
  config.routes.push_back(make_route("keyed", {make_policy("per-key", kind::api_key, 1, 60s)}));
  build();
  const config::route* keyed = &config.routes[2];
  key_id = "k1";
  key_rate = core::rate{3, 60s};
  for (int i = 0; i < 3; ++i) {
    const auto out = send("198.51.100.7", keyed);
    EXPECT_EQ(out.result, phase::phase_result::proceed) << i;
    EXPECT_EQ(field(out.response_headers, "RateLimit-Policy"), R"("per-key";q=3;w=60)");
  }
  const auto refused = send("198.51.100.7", keyed);
  EXPECT_EQ(refused.result, phase::phase_result::respond);
  ASSERT_TRUE(refused.answer);
  EXPECT_EQ(refused.answer->status, 429u);
  EXPECT_EQ(field(refused.answer->headers, "Retry-After"), "20");  // a unit per 20 s, not 60 s
  EXPECT_EQ(field(refused.answer->headers, "RateLimit-Policy"), R"("per-key";q=3;w=60)");
  EXPECT_EQ(field(refused.answer->headers, "RateLimit"), R"("per-key";r=0;t=60)");

  key_rate.reset();  // the same key without its override: the policy's rate
  const auto plain = send("198.51.100.7", keyed);
  EXPECT_EQ(plain.result, phase::phase_result::proceed);
  EXPECT_EQ(field(plain.response_headers, "RateLimit-Policy"), R"("per-key";q=1;w=60)");
  EXPECT_EQ(send("198.51.100.7", keyed).result, phase::phase_result::respond);
}

TEST_F(RateLimitPhaseTest, ForwardedForCountsOnlyBehindATrustedProxy) {
  config.listeners.front().trusted_proxies.push_back(*config::parse_cidr("10.0.0.0/8"));
  build();
  // Two clients behind the proxy have a quota each.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(send("10.0.0.2", &config.routes[0], {"203.0.113.5"}).result, phase::phase_result::proceed);
    EXPECT_EQ(send("10.0.0.2", &config.routes[0], {"203.0.113.6"}).result, phase::phase_result::proceed);
  }
  EXPECT_EQ(send("10.0.0.3", &config.routes[0], {"203.0.113.5"}).result, phase::phase_result::respond);
  // An untrusted peer cannot escape its quota by writing X-Forwarded-For.
  EXPECT_EQ(send("198.51.100.7", &config.routes[0], {"1.1.1.1"}).result, phase::phase_result::proceed);
  EXPECT_EQ(send("198.51.100.7", &config.routes[0], {"1.1.1.2"}).result, phase::phase_result::proceed);
  EXPECT_EQ(send("198.51.100.7", &config.routes[0], {"1.1.1.3"}).result, phase::phase_result::respond);
}

TEST_F(RateLimitPhaseTest, RoutesWithoutLimitsAreLeftAlone) {
  build();
  const std::vector<const config::route*> routes = {&config.routes[1], nullptr};
  for (const config::route* route : routes) {
    for (int i = 0; i < 5; ++i) {
      const auto out = send("198.51.100.7", route);
      EXPECT_EQ(out.result, phase::phase_result::proceed);
      EXPECT_TRUE(out.response_headers.empty());
      EXPECT_FALSE(out.decision);
    }
  }
}

TEST_F(RateLimitPhaseTest, APolicyThatCannotBeBuiltIsAProblem) {
  config.routes[1].rate_limits.push_back(
      make_policy("huge", kind::route, 5'000'000, 1s, 0, config::limit_algorithm::sliding_window));
  build();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("open"), std::string::npos) << problems[0];
  EXPECT_NE(problems[0].find("huge"), std::string::npos) << problems[0];
}

}  // namespace
}  // namespace bulwark::policy::ratelimit
