// The RFC 9651 serializer (strings, integers, keys, lists) and the two
// RateLimit fields built with it.
#include <gtest/gtest.h>

#include <vector>

#include "policy/ratelimit/fields.h"
#include "policy/ratelimit/structured_fields.h"

namespace bulwark::policy::ratelimit {
namespace {

using namespace std::chrono_literals;

TEST(StructuredFieldsTest, StringsEscapeQuoteAndBackslashOnly) {
  std::string out;
  ASSERT_TRUE(sf::append_string(out, R"(a"b\c d;e,f)"));
  EXPECT_EQ(out, R"("a\"b\\c d;e,f")");
  out.clear();
  ASSERT_TRUE(sf::append_string(out, ""));
  EXPECT_EQ(out, R"("")");
}

TEST(StructuredFieldsTest, StringsRefuseBytesOutsidePrintableAscii) {
  for (const std::string& bad : {std::string("tab\there"), std::string("nl\n"), std::string("\x7f"),
                                std::string("caf\xc3\xa9"), std::string(1, '\0')}) {
    std::string out = "kept";
    EXPECT_FALSE(sf::append_string(out, bad));
    EXPECT_EQ(out, "kept");
  }
  EXPECT_TRUE(sf::is_valid_string(" ~"));
}

TEST(StructuredFieldsTest, IntegersHaveFifteenDigitsAtMost) {
  std::string out;
  ASSERT_TRUE(sf::append_integer(out, 0));
  ASSERT_TRUE(sf::append_integer(out, -42));
  EXPECT_EQ(out, "0-42");
  out.clear();
  EXPECT_TRUE(sf::append_integer(out, sf::max_integer));
  EXPECT_EQ(out, "999999999999999");
  EXPECT_FALSE(sf::append_integer(out, sf::max_integer + 1));
  EXPECT_FALSE(sf::append_integer(out, -sf::max_integer - 1));
  EXPECT_EQ(out, "999999999999999");
}

TEST(StructuredFieldsTest, KeysFollowTheGrammar) {
  for (const auto good : {"q", "w", "*", "a1", "a_b-c.d*"}) EXPECT_TRUE(sf::is_valid_key(good)) << good;
  for (const auto bad : {"", "Q", "1a", "_a", "a b", "a=b"}) EXPECT_FALSE(sf::is_valid_key(bad)) << bad;
}

TEST(StructuredFieldsTest, ListMembersAreSeparatedByCommaSpace) {
  sf::list_writer list;
  ASSERT_TRUE(list.add("a", {{"q", 1}, {"w", 2}}));
  ASSERT_TRUE(list.add("b", {}));
  EXPECT_EQ(list.text(), R"("a";q=1;w=2, "b")");
}

TEST(StructuredFieldsTest, AFailedMemberLeavesTheListUnchanged) {
  sf::list_writer list;
  ASSERT_TRUE(list.add("a", {{"q", 1}}));
  EXPECT_FALSE(list.add("b", {{"q", 1}, {"Bad", 2}}));
  EXPECT_FALSE(list.add("b", {{"q", sf::max_integer + 1}}));
  EXPECT_FALSE(list.add("\x01", {{"q", 1}}));
  EXPECT_EQ(list.text(), R"("a";q=1)");
}

TEST(RateLimitFieldsTest, PolicyFieldListsEveryPolicy) {
  const std::vector<named_quota> policies = {{"per-ip", {5, 60}}, {"per \"key\"", {100, 1}}};
  EXPECT_EQ(format_policy_field(policies).value_or("?"),
            R"("per-ip";q=5;w=60, "per \"key\"";q=100;w=1)");
  const std::vector<named_quota> huge = {{"x", {~std::uint64_t{0}, 1}}};
  EXPECT_EQ(format_policy_field(huge).value_or("?"), R"("x";q=999999999999999;w=1)");
  const std::vector<named_quota> bad = {{"caf\xc3\xa9", {1, 1}}};
  EXPECT_FALSE(format_policy_field(bad));
}

TEST(RateLimitFieldsTest, LimitFieldRoundsTheResetUp) {
  EXPECT_EQ(format_limit_field("per-ip", 3, 11500ms).value_or("?"), R"("per-ip";r=3;t=12)");
  EXPECT_EQ(format_limit_field("per-ip", 3, 12s).value_or("?"), R"("per-ip";r=3;t=12)");
  EXPECT_EQ(format_limit_field("per-ip", 0, 1ns).value_or("?"), R"("per-ip";r=0;t=1)");
  EXPECT_EQ(format_limit_field("per-ip", 5, 0ns).value_or("?"), R"("per-ip";r=5;t=0)");
}

TEST(RateLimitFieldsTest, SecondsUpClampsTheExtremes) {
  EXPECT_EQ(seconds_up(-5s), 0u);
  EXPECT_EQ(seconds_up(1ns), 1u);
  EXPECT_EQ(seconds_up(1s), 1u);
  EXPECT_EQ(seconds_up(1s + 1ns), 2u);
  EXPECT_EQ(seconds_up(core::duration::max()), static_cast<std::uint64_t>(sf::max_integer));
}

}  // namespace
}  // namespace bulwark::policy::ratelimit
