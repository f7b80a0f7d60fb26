// The key's text form, hashing and constant-time comparison, scopes and names.
#include "store/api_key.h"

#include <gtest/gtest.h>

#include <set>

#include "unit/store/store_test_util.h"

namespace bulwark::store {
namespace {

using std::chrono::hours;

const std::string good_key = "bwk_abcdefgh2345_0123456789ABCDEFGHIJabcdefghijkl";

TEST(ApiKeyFormat, GeneratedKeysHaveTheDocumentedShape) {
  std::set<std::string> ids;
  std::set<std::string> secrets;
  for (int i = 0; i < 200; ++i) {
    auto key = generate_key();
    ASSERT_TRUE(key.has_value());
    const auto text = key->text();
    EXPECT_EQ(text.size(), key_length);
    EXPECT_EQ(text.substr(0, 4), "bwk_");
    auto parts = parse_key(text);
    ASSERT_TRUE(parts.has_value()) << text;
    EXPECT_EQ(parts->id, key->id);
    EXPECT_EQ(parts->secret, key->secret);
    EXPECT_TRUE(is_valid_key_id(key->id));
    ids.insert(key->id);
    secrets.insert(key->secret);
  }
  // 60 and 190 random bits: a repeat in 200 draws means the generator is broken.
  EXPECT_EQ(ids.size(), 200u);
  EXPECT_EQ(secrets.size(), 200u);
}

TEST(ApiKeyFormat, SecretsUseTheWholeBase62Alphabet) {
  // A biased or truncated alphabet (say, hex) would never produce some letters.
  std::set<char> seen;
  for (int i = 0; i < 200; ++i) {
    const auto key = generate_key();
    for (char c : key->secret) seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 62u);
}

TEST(ApiKeyFormat, ParsesAWellFormedKey) {
  auto parts = parse_key(good_key);
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->id, "abcdefgh2345");
  EXPECT_EQ(parts->secret, "0123456789ABCDEFGHIJabcdefghijkl");
}

// Whatever the length (under, at and over the 16-byte windows it compares in),
// a difference in any one byte is found, and texts of different lengths differ.
TEST(ApiKeyCompare, TextsEqualSeesEveryByte) {
  for (const std::size_t length : {0u, 1u, 15u, 16u, 17u, 31u, 32u, 33u, 49u, 64u}) {
    const std::string text(length, 'k');
    EXPECT_TRUE(texts_equal(text, text)) << length;
    for (std::size_t at = 0; at < length; ++at) {
      auto other = text;
      other[at] = 'K';
      EXPECT_FALSE(texts_equal(text, other)) << length << " at " << at;
    }
    EXPECT_FALSE(texts_equal(text, text + "k")) << length;
  }
}

TEST(ApiKeyFormat, RefusesMalformedKeys) {
  ASSERT_TRUE(parse_key(good_key).has_value());  // each case below breaks one thing
  const std::string malformed[] = {
      "",
      "bwk_",
      good_key.substr(0, good_key.size() - 1),               // too short
      good_key + "x",                                        // too long
      "BWK_" + good_key.substr(4),                           // prefix is case-sensitive
      "bwx_" + good_key.substr(4),                           // wrong prefix
      "bwk_ABCDEFGH2345_" + good_key.substr(17),             // id is lowercase base32
      "bwk_abcdefgh2341_" + good_key.substr(17),             // 1 is not base32
      "bwk_abcdefgh2345-" + good_key.substr(17),             // separator
      good_key.substr(0, 20) + "+" + good_key.substr(21),    // secret not base62
      good_key.substr(0, 20) + "_" + good_key.substr(21),    // a second separator
      " " + good_key.substr(1),                              // nothing trimmed
      good_key.substr(0, 30) + std::string(1, '\0') + good_key.substr(31),
  };
  for (const auto& key : malformed) EXPECT_FALSE(parse_key(key).has_value()) << key;
}

TEST(ApiKeyFormat, KeyIds) {
  EXPECT_TRUE(is_valid_key_id("abcdefgh2345"));
  EXPECT_FALSE(is_valid_key_id("abcdefgh234"));
  EXPECT_FALSE(is_valid_key_id("abcdefgh23456"));
  EXPECT_FALSE(is_valid_key_id("abcdefgh2340"));
  EXPECT_FALSE(is_valid_key_id(good_key));
}

TEST(ApiKeyHash, IsSha256OfTheSecret) {
  // FIPS 180-2 test vector: SHA-256("abc").
  const auto hash = hash_secret("abc");
  const unsigned char expected[] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
  EXPECT_TRUE(std::equal(hash.begin(), hash.end(), std::begin(expected)));
}

TEST(ApiKeyHash, ConstantTimeComparisonFindsADifferenceAnywhere) {
  const auto a = hash_secret("one secret");
  EXPECT_TRUE(hashes_equal(a, hash_secret("one secret")));
  for (std::size_t i : {std::size_t{0}, std::size_t{15}, a.size() - 1}) {
    auto b = a;
    b[i] ^= 0x01;  // one bit, first / middle / last byte
    EXPECT_FALSE(hashes_equal(a, b)) << "byte " << i;
  }
}

TEST(ApiKeyScopes, SplitTrimsAndJoins) {
  EXPECT_TRUE(split_scopes("").empty());
  EXPECT_EQ(split_scopes("read"), (std::vector<std::string>{"read"}));
  EXPECT_EQ(split_scopes("read, write"), (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(join_scopes({"read", "write"}), "read,write");
  EXPECT_EQ(split_scopes("a,,b"), (std::vector<std::string>{"a", "", "b"}));  // then refused by check
}

TEST(ApiKeyScopes, Checks) {
  EXPECT_EQ(check_scopes({}), "");
  EXPECT_EQ(check_scopes({"read", "orders:write", "v1/admin", "a.b-c_d"}), "");
  EXPECT_NE(check_scopes({""}), "");
  EXPECT_NE(check_scopes({"has space"}), "");
  EXPECT_NE(check_scopes({"semi;colon"}), "");
  EXPECT_NE(check_scopes({std::string(65, 'a')}), "");
  EXPECT_NE(check_scopes({"read", "read"}).find("twice"), std::string::npos);
}

TEST(ApiKeyNames, Checks) {
  EXPECT_EQ(check_name("ci pipeline (prod)"), "");
  EXPECT_NE(check_name(""), "");
  EXPECT_NE(check_name(std::string(129, 'n')), "");
  EXPECT_NE(check_name("line\nbreak"), "");
}

TEST(ApiKeyRecord, StateAtFixedTimes) {
  key_record record;
  record.created_at = test::t0;
  EXPECT_EQ(record.state(test::t0), key_state::active);
  record.expires_at = test::t0 + hours(2);
  EXPECT_EQ(record.state(test::t0 + hours(1)), key_state::active);
  EXPECT_EQ(record.state(test::t0 + hours(2)), key_state::expired);  // the expiry instant itself is expired
  record.replaced_by = "abcdefgh2345";
  EXPECT_EQ(record.state(test::t0 + hours(1)), key_state::rotating);
  EXPECT_EQ(record.state(test::t0 + hours(3)), key_state::expired);
  record.revoked_at = test::t0;
  EXPECT_EQ(record.state(test::t0 + hours(1)), key_state::revoked);
}

TEST(ApiKeyTime, FormatsRfc3339AndRoundTripsMilliseconds) {
  EXPECT_EQ(format_time(test::t0), "2026-05-28T20:26:40Z");
  EXPECT_EQ(format_time(from_unix_ms(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(to_unix_ms(from_unix_ms(1'780'000'000'123)), 1'780'000'000'123);
}

}  // namespace
}  // namespace bulwark::store
