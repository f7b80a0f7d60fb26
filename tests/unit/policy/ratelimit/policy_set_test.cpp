// The rate limits of a route applied together: each algorithm behind the
// phase, the RateLimit fields, Retry-After against the admission it
// promises, all or nothing across policies, which key each source gives,
// the key cap under a spray of distinct keys, state kept across a reload,
// and the decision metric.
#include "policy/ratelimit/policy_set.h"

#include <gtest/gtest.h>

#include <set>

#include "observe/gateway_metrics.h"
#include "observe/metrics.h"
#include "test_policies.h"

namespace bulwark::policy::ratelimit {
namespace {

using namespace std::chrono_literals;
using namespace test;
using algorithm = config::limit_algorithm;

// Whole units available to `key` now (peek reports what would be left after one more).
std::uint64_t remaining(const policy_set& set, std::size_t policy, std::string_view key,
                        core::time_point now) {
  const auto d = set.state_for_test(policy).find(key)->peek(now);
  return d.allowed ? d.remaining + 1 : d.remaining;
}

class AlgorithmTest : public ::testing::TestWithParam<algorithm> {};

TEST_P(AlgorithmTest, AdmitsTheQuotaThenRefusesWithFields) {
  const auto route = make_route("r", {make_policy("per-ip", kind::client_ip, 5, 60s, 5, GetParam())});
  fixture f(route);
  fake_request request;
  EXPECT_EQ(f.set.policy_field(), R"("per-ip";q=5;w=60)");
  for (int i = 0; i < 5; ++i) {
    const auto v = f.set.evaluate(request, start, 0);
    ASSERT_TRUE(v.allowed) << i;
    EXPECT_EQ(v.limit_field.rfind(R"("per-ip";r=)" + std::to_string(4 - i) + ";t=", 0), 0u)
        << v.limit_field;
  }
  const auto refused = f.set.evaluate(request, start, 0);
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.refused_by, 0u);
  EXPECT_GE(refused.retry_after_seconds, 1u);
  EXPECT_EQ(refused.limit_field.rfind(R"("per-ip";r=0;t=)", 0), 0u) << refused.limit_field;
  // Another client has its own quota.
  request.ip = "192.0.2.2";
  EXPECT_TRUE(f.set.evaluate(request, start, 0).allowed);
}

// Retry-After is a promise: one second earlier the request is still refused
// (the limiters' retry times here are whole seconds), at Retry-After it passes.
TEST_P(AlgorithmTest, RetryAfterIsWhenTheRequestIsAdmitted) {
  const auto route = make_route("r", {make_policy("p", kind::route, 5, 60s, 5, GetParam())});
  fixture f(route);
  fake_request request;
  core::time_point now = start;
  for (int round = 0; round < 4; ++round) {
    while (f.set.evaluate(request, now, 0).allowed) {
    }
    const auto refused = f.set.evaluate(request, now, 0);
    ASSERT_FALSE(refused.allowed);
    const auto wait = std::chrono::seconds(refused.retry_after_seconds);
    if (wait > 1s) {
      EXPECT_FALSE(f.set.evaluate(request, now + wait - 1s, 0).allowed) << round;
    }
    EXPECT_TRUE(f.set.evaluate(request, now + wait, 0).allowed) << round;
    now += wait + std::chrono::milliseconds(round * 700);  // also from instants off the second
  }
}

TEST_P(AlgorithmTest, OverAnIntervalAdmitsAtMostBurstPlusRateTimesTime) {
  const auto route = make_route("r", {make_policy("p", kind::route, 50, 1s, 10, GetParam())});
  fixture f(route);
  fake_request request;
  int admitted = 0;
  // 100 attempts per second for 4 s, 2x the rate.
  for (int ms = 0; ms < 4000; ms += 10) {
    if (f.set.evaluate(request, start + std::chrono::milliseconds(ms), 0).allowed) ++admitted;
  }
  const int bound = GetParam() == algorithm::sliding_window ? 50 * 4 : 10 + 50 * 4;
  EXPECT_LE(admitted, bound);
  // And it does admit the rate (the sliding window's estimate leaves about one
  // unit per window unused under steady overload).
  EXPECT_GE(admitted, 50 * 4 - 4);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, AlgorithmTest,
                         ::testing::Values(algorithm::token_bucket, algorithm::gcra,
                                           algorithm::sliding_window),
                         [](const auto& info) {
                           switch (info.param) {
                             case algorithm::token_bucket: return std::string("token_bucket");
                             case algorithm::gcra: return std::string("gcra");
                             default: return std::string("sliding_window");
                           }
                         });

TEST(PolicySetTest, QuotaAndWindowPerAlgorithm) {
  const auto route = make_route(
      "r", {make_policy("tb", kind::route, 100, 1s, 10), make_policy("g", kind::route, 5, 60s, 5, algorithm::gcra),
            make_policy("slow", kind::route, 7, 60s, 3),  // 3 take 3 * 8.57 s to come back
            make_policy("sw", kind::route, 100, 60s, 0, algorithm::sliding_window)});
  fixture f(route);
  EXPECT_EQ(f.set.policy_field(),
            R"("tb";q=10;w=1, "g";q=5;w=60, "slow";q=3;w=26, "sw";q=100;w=60)");
}

TEST(PolicySetTest, ARefusedRequestTakesNothingFromTheOtherPolicies) {
  const auto route = make_route("r", {make_policy("ip", kind::client_ip, 10, 60s),
                                      make_policy("tenant", kind::header, 2, 60s, 0,
                                                  algorithm::token_bucket, "X-Tenant")});
  fixture f(route);
  fake_request request;
  request.headers["X-Tenant"] = "acme";
  EXPECT_TRUE(f.set.evaluate(request, start, 0).allowed);
  EXPECT_TRUE(f.set.evaluate(request, start, 0).allowed);
  for (int i = 0; i < 5; ++i) {
    const auto v = f.set.evaluate(request, start, 0);
    EXPECT_FALSE(v.allowed);
    EXPECT_EQ(v.refused_by, 1u);
  }
  EXPECT_EQ(remaining(f.set, 0, "192.0.2.1", start), 8u);  // only the two admitted took
  // The first policy refusing leaves the second alone too.
  for (int i = 0; i < 8; ++i) {
    request.headers["X-Tenant"] = "t" + std::to_string(i);
    ASSERT_TRUE(f.set.evaluate(request, start, 0).allowed);
  }
  request.headers["X-Tenant"] = "globex";
  for (int i = 0; i < 3; ++i) {
    const auto v = f.set.evaluate(request, start, 0);
    EXPECT_FALSE(v.allowed);
    EXPECT_EQ(v.refused_by, 0u);
  }
  EXPECT_EQ(remaining(f.set, 1, "globex", start), 2u);
}

TEST(PolicySetTest, RetryAfterWaitsForTheSlowestRefusingPolicy) {
  const auto route = make_route("r", {make_policy("fast", kind::route, 1, 1s),
                                      make_policy("slow", kind::client_ip, 1, 60s)});
  fixture f(route);
  fake_request request;
  ASSERT_TRUE(f.set.evaluate(request, start, 0).allowed);
  const auto refused = f.set.evaluate(request, start, 0);
  ASSERT_FALSE(refused.allowed);
  EXPECT_EQ(refused.refused_by, 1u);
  EXPECT_EQ(refused.retry_after_seconds, 60u);
  EXPECT_EQ(refused.limit_field, R"("slow";r=0;t=60)");
}

TEST(PolicySetTest, TheFieldShowsThePolicyClosestToRefusal) {
  const auto route = make_route("r", {make_policy("wide", kind::route, 100, 1s),
                                      make_policy("narrow", kind::client_ip, 3, 60s)});
  fixture f(route);
  fake_request request;
  EXPECT_EQ(f.set.evaluate(request, start, 0).limit_field, R"("narrow";r=2;t=20)");
}

// A take that loses the race after every peek passed is refunded. Two entries
// naming one global policy share one limiter, so the second take always loses.
TEST(PolicySetTest, ALostRaceRefundsWhatWasTaken) {
  const auto shared = make_policy("g", kind::global, 1, 60s);
  const auto route = make_route("r", {shared, shared});
  fixture f(route);
  fake_request request;
  const auto v = f.set.evaluate(request, start, 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.refused_by, 1u);
  EXPECT_EQ(remaining(f.set, 0, "", start), 1u);  // the first take came back
}

TEST(PolicySetTest, CredentialPoliciesApplyOnlyWithTheCredential) {
  const auto route = make_route("r", {make_policy("key", kind::api_key, 1, 60s),
                                      make_policy("sub", kind::jwt_claim, 1, 60s, 0,
                                                  algorithm::token_bucket, "sub")});
  fixture f(route);
  fake_request anonymous;
  for (int i = 0; i < 5; ++i) {
    const auto v = f.set.evaluate(anonymous, start, 0);
    EXPECT_TRUE(v.allowed);
    EXPECT_TRUE(v.limit_field.empty());
  }
  fake_request keyed;
  keyed.key_id = "k1";
  EXPECT_TRUE(f.set.evaluate(keyed, start, 0).allowed);
  EXPECT_FALSE(f.set.evaluate(keyed, start, 0).allowed);
  fake_request user;
  user.claims["sub"] = "alice";
  EXPECT_TRUE(f.set.evaluate(user, start, 0).allowed);
  EXPECT_FALSE(f.set.evaluate(user, start, 0).allowed);
  user.claims["sub"] = "bob";
  EXPECT_TRUE(f.set.evaluate(user, start, 0).allowed);
}

TEST(KeyOfTest, EachSourceGivesItsKey) {
  fake_request request;
  request.ip = "203.0.113.4";
  request.headers["X-Tenant"] = "acme";
  request.claims["sub"] = "alice";
  request.key_id = "k1";
  auto key = [&](kind source, std::string name = {}) {
    return key_of(config::limit_key{source, std::move(name)}, request);
  };
  EXPECT_EQ(key(kind::client_ip), "203.0.113.4");
  EXPECT_EQ(key(kind::api_key), "k1");
  EXPECT_EQ(key(kind::jwt_claim, "sub"), "alice");
  EXPECT_EQ(key(kind::jwt_claim, "tenant"), std::nullopt);
  EXPECT_EQ(key(kind::header, "X-Tenant"), "acme");
  EXPECT_EQ(key(kind::header, "X-Missing"), "");  // one shared key for "no header"
  EXPECT_EQ(key(kind::route), "");
  EXPECT_EQ(key(kind::global), "");
  request.key_id = "";
  EXPECT_EQ(key(kind::api_key), std::nullopt);
}

TEST(KeyOfTest, LongClientValuesAreDigestedAndStayDistinct) {
  fake_request request;
  const std::string long_a(1000, 'a');
  std::string long_b = long_a;
  long_b.back() = 'b';
  const config::limit_key header{kind::header, "X-Tenant"};
  request.headers["X-Tenant"] = long_a;
  const auto a = key_of(header, request);
  request.headers["X-Tenant"] = long_b;
  const auto b = key_of(header, request);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->size(), 7u + 32u);
  EXPECT_EQ(a->rfind("sha256:", 0), 0u);
  EXPECT_NE(*a, *b);
  request.headers["X-Tenant"] = std::string(max_key_bytes, 'x');
  EXPECT_EQ(key_of(header, request), std::string(max_key_bytes, 'x'));
}

// A million distinct clients against max_keys 10000: the table never holds
// more than the cap, and a client seen every 100 requests keeps its state.
TEST(PolicySetTest, DistinctKeysStayWithinMaxKeysAndAHotKeyKeepsItsState) {
  auto policy = make_policy("per-ip", kind::client_ip, 5, 60s);
  policy.max_keys = 10000;
  const auto route = make_route("r", {policy});
  fixture f(route);
  fake_request hot;
  hot.ip = "203.0.113.7";
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.set.evaluate(hot, start, 0).allowed);
  fake_request spray;
  for (std::uint64_t i = 0; i < 1'000'000; ++i) {
    spray.ip = std::to_string(i);
    ASSERT_TRUE(f.set.evaluate(spray, start, 0).allowed);
    if (i % 100 == 0) {
      // The 4th unit of 5 (r=1, 4 x 12 s to refill), given back for the next check.
      ASSERT_EQ(f.set.evaluate(hot, start, 0).limit_field, R"("per-ip";r=1;t=48)") << i;
      f.set.state_for_test(0).find(hot.ip)->refund(start);
    }
    if (i % 10'000 == 0) {
      ASSERT_LE(f.set.state_for_test(0).size(), 10000u);
    }
  }
  EXPECT_LE(f.set.state_for_test(0).size(), 10000u);
  EXPECT_GT(f.set.state_for_test(0).size(), 5000u);
  EXPECT_FALSE(f.set.state_for_test(0).contains_for_test("0"));  // old keys did leave
}

TEST(PolicySetTest, AnUnchangedPolicyKeepsItsStateAcrossAReload) {
  phase::carried_state carried;
  const auto first = make_route("r", {make_policy("p", kind::client_ip, 5, 60s)});
  fake_request request;
  {
    auto generation = carried.next();
    policy_set set(first, generation, nullptr);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(set.evaluate(request, start, 0).allowed);
    carried.commit(std::move(generation));
  }
  {
    auto generation = carried.next();
    policy_set set(first, generation, nullptr);
    EXPECT_FALSE(set.evaluate(request, start, 0).allowed);  // still empty
    carried.commit(std::move(generation));
  }
  const auto changed = make_route("r", {make_policy("p", kind::client_ip, 6, 60s)});
  auto generation = carried.next();
  policy_set set(changed, generation, nullptr);
  EXPECT_TRUE(set.evaluate(request, start, 0).allowed);  // a changed policy starts full
}

TEST(PolicySetTest, AGlobalPolicyIsSharedAcrossRoutes) {
  phase::carried_state carried;
  auto generation = carried.next();
  const auto global = make_policy("everyone", kind::global, 2, 60s);
  const auto per_route = make_policy("mine", kind::route, 2, 60s);
  policy_set a(make_route("a", {global, per_route}), generation, nullptr);
  policy_set b(make_route("b", {global, per_route}), generation, nullptr);
  fake_request request;
  EXPECT_TRUE(a.evaluate(request, start, 0).allowed);
  EXPECT_TRUE(b.evaluate(request, start, 0).allowed);
  const auto v = a.evaluate(request, start, 0);
  EXPECT_FALSE(v.allowed);
  EXPECT_EQ(v.refused_by, 0u);  // the global one, not the route's own (1 left each)
}

TEST(PolicySetTest, EveryDecisionIsCountedPerPolicy) {
  observe::metrics_registry registry(2);
  const observe::gateway_metrics metrics(registry, "test");
  const auto route = make_route("r", {make_policy("ip", kind::client_ip, 10, 60s),
                                      make_policy("tenant", kind::route, 2, 60s)});
  fixture f(route, &metrics);
  fake_request request;
  for (int i = 0; i < 5; ++i) f.set.evaluate(request, start, i % 2);
  const auto ip = metrics.for_rate_limit("r", "ip");
  const auto tenant = metrics.for_rate_limit("r", "tenant");
  auto count = [](const observe::rate_limit_metrics& m, observe::limit_decision d) {
    return m.decisions[static_cast<std::size_t>(d)].value();
  };
  EXPECT_EQ(count(tenant, observe::limit_decision::allow), 2u);
  EXPECT_EQ(count(tenant, observe::limit_decision::deny), 3u);
  // allow counts what the policy admitted: the refused three took nothing from it.
  EXPECT_EQ(count(ip, observe::limit_decision::allow), 2u);
  EXPECT_EQ(count(ip, observe::limit_decision::deny), 0u);
}

TEST(PolicySetTest, ABadPolicyIsReportedByName) {
  auto policy = make_policy("huge", kind::client_ip, 2'000'000, 1s, 0, algorithm::sliding_window);
  phase::carried_state carried;
  auto generation = carried.next();
  try {
    policy_set set(make_route("r", {policy}), generation, nullptr);
    FAIL() << "built";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("\"huge\""), std::string::npos) << error.what();
  }
  auto unprintable = make_policy("caf\xc3\xa9", kind::client_ip, 2, 1s);
  EXPECT_THROW(policy_set(make_route("r", {unprintable}), generation, nullptr), std::invalid_argument);
}

}  // namespace
}  // namespace bulwark::policy::ratelimit
