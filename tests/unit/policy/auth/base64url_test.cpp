#include "policy/auth/base64url.h"

#include <gtest/gtest.h>

namespace bulwark::policy::auth {
namespace {

TEST(Base64url, RoundTripsEveryRemainder) {
  std::string bytes;
  for (int i = 0; i < 12; ++i) {
    auto encoded = encode_base64url(bytes);
    EXPECT_EQ(encoded.find('='), std::string::npos);
    auto decoded = decode_base64url(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, bytes);
    bytes.push_back(static_cast<char>(0xf0 + i));  // high bits exercise - and _
  }
}

TEST(Base64url, KnownVectors) {
  EXPECT_EQ(encode_base64url("\xfb\xff"), "-_8");
  EXPECT_EQ(decode_base64url("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(decode_base64url(""), std::string());
  EXPECT_EQ(decode_base64url("eyJhbGciOiJIUzI1NiJ9"), std::string(R"({"alg":"HS256"})"));
}

TEST(Base64url, RefusesPaddingStandardAlphabetAndWhitespace) {
  EXPECT_FALSE(decode_base64url("QQ=="));
  EXPECT_FALSE(decode_base64url("QQ="));
  EXPECT_FALSE(decode_base64url("+/8"));
  EXPECT_FALSE(decode_base64url("QU JD"));
  EXPECT_FALSE(decode_base64url("QUJD\n"));
  EXPECT_FALSE(decode_base64url(std::string_view("QU\0D", 4)));
}

TEST(Base64url, RefusesImpossibleLengthAndNonCanonicalTrailingBits) {
  EXPECT_FALSE(decode_base64url("Q"));      // 6 bits: not a byte
  EXPECT_FALSE(decode_base64url("QUJDR"));  // 4n + 1
  EXPECT_TRUE(decode_base64url("QQ"));      // "A"
  EXPECT_FALSE(decode_base64url("QR"));     // also "A" if the low bits were ignored
  EXPECT_TRUE(decode_base64url("QUI"));     // "AB"
  EXPECT_FALSE(decode_base64url("QUJ"));    // also "AB" if the low bits were ignored
}

}  // namespace
}  // namespace bulwark::policy::auth
