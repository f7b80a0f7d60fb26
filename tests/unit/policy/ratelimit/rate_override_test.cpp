// A key's rate override (DESIGN.md §2, `bulwark keys create --rate`) in the
// rate limits: the spec it gives under each kind of policy burst, applied by
// the policies keyed by api_key and ignored by every other, the
// RateLimit-Policy field showing the q and w that really applied, a changed
// override taking effect at the next request, and the key cap holding while
// overrides change.
#include <gtest/gtest.h>

#include "policy/ratelimit/limiter.h"
#include "policy/ratelimit/policy_set.h"
#include "test_policies.h"

namespace bulwark::policy::ratelimit {
namespace {

using namespace std::chrono_literals;
using namespace test;
using algorithm = config::limit_algorithm;

fake_request keyed(std::string id, std::optional<core::rate> rate) {
  fake_request request;
  request.key_id = std::move(id);
  request.key_rate = rate;
  return request;
}

// How many requests pass at `now` before the first refusal (at most `limit`).
int admitted_at(const policy_set& set, const fake_request& request, core::time_point now,
                int limit = 1000) {
  int admitted = 0;
  while (admitted < limit && set.evaluate(request, now, 0).allowed) ++admitted;
  return admitted;
}

bool same(const core::rate_limit_spec& a, const core::rate_limit_spec& b) {
  return a.count == b.count && a.per == b.per && a.burst == b.burst;
}

TEST(OverrideSpecTest, ADefaultBurstBecomesTheOverridesCount) {
  const core::rate_limit_spec policy{10, 1s, 10};
  const auto spec = override_spec(policy, algorithm::token_bucket, core::rate{100, 1s});
  ASSERT_TRUE(spec);
  EXPECT_TRUE(same(*spec, {100, 1s, 100}));
  // Whatever the policy's unit: `5/min` policy, `100/s` key.
  const auto per_second = override_spec({5, 60s, 5}, algorithm::gcra, core::rate{100, 1s});
  ASSERT_TRUE(per_second);
  EXPECT_TRUE(same(*per_second, {100, 1s, 100}));
  const auto quota = describe(*per_second, algorithm::gcra);
  EXPECT_EQ(quota.quota, 100u);
  EXPECT_EQ(quota.window_seconds, 1u);
}

TEST(OverrideSpecTest, AWrittenBurstKeepsItsProportionRoundedUp) {
  // Smoothing: 100/s burst 10 is a tenth of the count.
  const auto faster = override_spec({100, 1s, 10}, algorithm::token_bucket, core::rate{200, 1s});
  ASSERT_TRUE(faster);
  EXPECT_TRUE(same(*faster, {200, 1s, 20}));
  const auto slower = override_spec({100, 1s, 10}, algorithm::token_bucket, core::rate{5, 1s});
  ASSERT_TRUE(slower);
  EXPECT_EQ(slower->burst, 1u);  // half a unit is one
  // Generous: 10/s burst 50 is five times the count.
  const auto generous = override_spec({10, 1s, 50}, algorithm::token_bucket, core::rate{30, 60s});
  ASSERT_TRUE(generous);
  EXPECT_TRUE(same(*generous, {30, 60s, 150}));
}

TEST(OverrideSpecTest, AnOverrideNoLimiterCanHonourIsRefused) {
  const core::rate_limit_spec policy{10, 1s, 10};
  EXPECT_FALSE(override_spec(policy, algorithm::sliding_window, core::rate{2'000'000, 1s}));
  EXPECT_TRUE(override_spec(policy, algorithm::sliding_window, core::rate{1'000'000, 1s}));
  // 2^64 - 1 per second: a unit every nanosecond, and a burst far beyond 2^62 ns of them.
  const core::rate huge{~std::uint64_t{0}, 1s};
  EXPECT_FALSE(override_spec(policy, algorithm::token_bucket, huge));
  EXPECT_FALSE(
      override_spec({1, 1s, 1000}, algorithm::gcra, core::rate{~std::uint64_t{0} / 10, 1s}));
}

class OverrideAlgorithmTest : public ::testing::TestWithParam<algorithm> {};

// A `2/min` policy keyed by api_key; the key's `5/min` wins, its fields say so,
// and a key without an override keeps the policy's rate and field.
TEST_P(OverrideAlgorithmTest, AKeyWithAnOverrideIsLimitedAtItsRate) {
  const auto route =
      make_route("r", {make_policy("per-key", kind::api_key, 2, 60s, 0, GetParam())});
  fixture f(route);
  const auto premium = keyed("k1", core::rate{5, 60s});
  const auto first = f.set.evaluate(premium, start, 0);
  ASSERT_TRUE(first.allowed);
  EXPECT_EQ(first.policy_field(), R"("per-key";q=5;w=60)");
  EXPECT_EQ(first.limit_field.rfind(R"("per-key";r=4;t=)", 0), 0u) << first.limit_field;
  EXPECT_EQ(admitted_at(f.set, premium, start), 4);
  const auto refused = f.set.evaluate(premium, start, 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.policy_field(), R"("per-key";q=5;w=60)");
  EXPECT_EQ(refused.limit_field.rfind(R"("per-key";r=0;t=)", 0), 0u) << refused.limit_field;

  const auto plain = keyed("k2", std::nullopt);
  const auto other = f.set.evaluate(plain, start, 0);
  EXPECT_EQ(other.policy_field(), R"("per-key";q=2;w=60)");
  EXPECT_EQ(other.policy_field(), f.set.policy_field());
  EXPECT_EQ(admitted_at(f.set, plain, start), 1);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, OverrideAlgorithmTest,
                         ::testing::Values(algorithm::token_bucket, algorithm::gcra,
                                           algorithm::sliding_window),
                         [](const auto& info) {
                           switch (info.param) {
                             case algorithm::token_bucket: return std::string("token_bucket");
                             case algorithm::gcra: return std::string("gcra");
                             default: return std::string("sliding_window");
                           }
                         });

TEST(RateOverrideTest, RetryAfterAndTheFieldsFollowTheOverride) {
  const auto route = make_route("r", {make_policy("per-key", kind::api_key, 1, 60s)});
  fixture f(route);
  const auto fast = keyed("k1", core::rate{10, 1s});
  EXPECT_EQ(admitted_at(f.set, fast, start), 10);
  const auto refused = f.set.evaluate(fast, start, 0);
  ASSERT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_seconds, 1u);  // 100 ms to the next unit, not the policy's 60 s
  EXPECT_EQ(refused.policy_field(), R"("per-key";q=10;w=1)");
  EXPECT_EQ(refused.limit_field, R"("per-key";r=0;t=1)");
  EXPECT_TRUE(f.set.evaluate(fast, start + 100ms, 0).allowed);
}

TEST(RateOverrideTest, PoliciesKeyedByAnythingElseIgnoreIt) {
  const std::vector<config::limit_key> keys = {
      {kind::client_ip, ""}, {kind::header, "X-Tenant"}, {kind::jwt_claim, "sub"},
      {kind::route, ""},     {kind::global, ""}};
  for (const auto& key : keys) {
    auto policy = make_policy("p", key.source, 2, 60s);
    policy.key = key;
    fixture f(make_route("r", {policy}));
    auto request = keyed("k1", core::rate{50, 60s});
    request.claims["sub"] = "alice";
    request.headers["X-Tenant"] = "acme";
    const auto first = f.set.evaluate(request, start, 0);
    EXPECT_TRUE(first.allowed) << key.text();
    EXPECT_EQ(first.policy_field(), R"("p";q=2;w=60)") << key.text();
    EXPECT_EQ(admitted_at(f.set, request, start), 1) << key.text();
  }
}

// Beside a client_ip policy: the key's policy takes the override, the
// address's keeps its rate, and the field says both.
TEST(RateOverrideTest, OnlyTheKeysPolicyChangesInTheField) {
  const auto route = make_route("r", {make_policy("per-key", kind::api_key, 2, 60s),
                                      make_policy("per-ip", kind::client_ip, 3, 60s)});
  fixture f(route);
  EXPECT_EQ(f.set.policy_field(), R"("per-key";q=2;w=60, "per-ip";q=3;w=60)");
  const auto request = keyed("k1", core::rate{10, 60s});
  const auto first = f.set.evaluate(request, start, 0);
  EXPECT_EQ(first.policy_field(), R"("per-key";q=10;w=60, "per-ip";q=3;w=60)");
  EXPECT_EQ(first.limit_field, R"("per-ip";r=2;t=20)");  // closest to refusal
  EXPECT_EQ(admitted_at(f.set, request, start), 2);
  const auto refused = f.set.evaluate(request, start, 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.refused_by, 1u);
  EXPECT_EQ(refused.policy_field(), R"("per-key";q=10;w=60, "per-ip";q=3;w=60)");
  // The per-ip refusals took nothing from the key: 7 of its 10 are left.
  EXPECT_EQ(admitted_at(f.set, keyed("k1", core::rate{10, 60s}), start), 0);
  const auto peek = f.set.state_for_test(0).find("k1", core::rate{10, 60s})->peek(start);
  EXPECT_EQ(peek.remaining, 6u);  // 7 left, 6 after one more
}

// The cache reloads another rate for the same id: the next request is limited
// at the new rate, with the new rate's quota, and its fields say so.
TEST(RateOverrideTest, AChangedOverrideTakesEffectAtTheNextRequest) {
  const auto route = make_route("r", {make_policy("per-key", kind::api_key, 2, 60s)});
  fixture f(route);
  auto request = keyed("k1", core::rate{5, 60s});
  EXPECT_EQ(admitted_at(f.set, request, start), 5);

  request.key_rate = core::rate{8, 60s};
  const auto raised = f.set.evaluate(request, start, 0);
  EXPECT_TRUE(raised.allowed);
  EXPECT_EQ(raised.policy_field(), R"("per-key";q=8;w=60)");
  EXPECT_EQ(admitted_at(f.set, request, start), 7);

  request.key_rate = core::rate{1, 1s};
  const auto per_second = f.set.evaluate(request, start, 0);
  EXPECT_TRUE(per_second.allowed);
  EXPECT_EQ(per_second.policy_field(), R"("per-key";q=1;w=1)");
  EXPECT_FALSE(f.set.evaluate(request, start, 0).allowed);
  EXPECT_TRUE(f.set.evaluate(request, start + 1s, 0).allowed);

  request.key_rate.reset();  // the override removed: the policy's rate
  EXPECT_EQ(f.set.evaluate(request, start, 0).policy_field(), R"("per-key";q=2;w=60)");
  EXPECT_EQ(admitted_at(f.set, request, start), 1);

  // Back to a rate whose state is still held: that state, not a fresh quota.
  request.key_rate = core::rate{5, 60s};
  EXPECT_FALSE(f.set.evaluate(request, start, 0).allowed);

  // A rotated key (a new id with the same override) has its own quota.
  EXPECT_EQ(admitted_at(f.set, keyed("k2", core::rate{5, 60s}), start), 5);
}

TEST(RateOverrideTest, AnOverrideEqualToThePolicyChangesNothing) {
  const auto route = make_route("r", {make_policy("per-key", kind::api_key, 2, 60s)});
  fixture f(route);
  const auto same_rate = keyed("k1", core::rate{2, 60s});
  const auto first = f.set.evaluate(same_rate, start, 0);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.policy_field(), f.set.policy_field());
  // One limiter with or without it: one unit is left for both.
  EXPECT_TRUE(f.set.evaluate(keyed("k1", std::nullopt), start, 0).allowed);
  EXPECT_FALSE(f.set.evaluate(same_rate, start, 0).allowed);
  EXPECT_EQ(f.set.state_for_test(0).size(), 1u);
}

TEST(RateOverrideTest, AnOverrideTheAlgorithmCannotHonourGetsThePolicysRate) {
  const auto route = make_route(
      "r", {make_policy("sw", kind::api_key, 10, 1s, 0, algorithm::sliding_window)});
  fixture f(route);
  const auto request = keyed("k1", core::rate{2'000'000, 1s});
  const auto first = f.set.evaluate(request, start, 0);
  EXPECT_TRUE(first.allowed);
  EXPECT_EQ(first.policy_field(), R"("sw";q=10;w=1)");
  EXPECT_EQ(admitted_at(f.set, request, start), 9);
}

// Every rate a key is seen at holds an entry until it ages out: a key whose
// override keeps changing stays within max_keys like a spray of keys does.
TEST(RateOverrideTest, ChangingOverridesStayWithinMaxKeys) {
  auto policy = make_policy("per-key", kind::api_key, 2, 60s);
  policy.max_keys = 300;
  fixture f(make_route("r", {policy}));
  auto request = keyed("k1", std::nullopt);
  for (std::uint64_t count = 3; count < 20'000; ++count) {
    request.key_rate = core::rate{count, 60s};
    ASSERT_TRUE(f.set.evaluate(request, start, 0).allowed) << count;
    ASSERT_LE(f.set.state_for_test(0).size(), 300u);
  }
  EXPECT_FALSE(f.set.state_for_test(0).contains_for_test("k1", core::rate{3, 60s}));
  EXPECT_TRUE(f.set.state_for_test(0).contains_for_test("k1", core::rate{19'999, 60s}));
}

}  // namespace
}  // namespace bulwark::policy::ratelimit
