// host:port, tokens and host names (config/syntax.h).
#include "config/syntax.h"

#include <gtest/gtest.h>

namespace bulwark::config {
namespace {

TEST(syntax, parses_addresses) {
  auto v4 = parse_address("127.0.0.1:8080", 1);
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4.value->host, "127.0.0.1");
  EXPECT_EQ(v4.value->port, 8080);
  auto v6 = parse_address("[::1]:443", 1);
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6.value->host, "::1");
  EXPECT_EQ(parse_address("backend-1.internal:65535", 1).value->port, 65535);
  EXPECT_EQ(parse_address("localhost:0", 0).value->port, 0);
}

TEST(syntax, refuses_bad_addresses) {
  EXPECT_EQ(parse_address("localhost:0", 1).error,
            "expected a port from 1 to 65535 after the host");
  EXPECT_EQ(parse_address("localhost:65536", 0).error,
            "expected a port from 0 to 65535 after the host (0: the OS chooses)");
  for (const char* text : {"", ":80", "localhost", "[::1]", "[]:80"}) {
    EXPECT_FALSE(parse_address(text, 1).ok()) << text;
  }
  EXPECT_EQ(parse_address("localhost:", 1).error, "expected a port from 1 to 65535 after the host");
  EXPECT_EQ(parse_address("localhost:+80", 1).error,
            "expected a port from 1 to 65535 after the host");
  EXPECT_EQ(parse_address("::1:80", 1).error, "write an IPv6 address in brackets, like [::1]:8080");
  EXPECT_EQ(parse_address("[::g]:80", 1).error,
            "expected a host name or IP address before the port, like 127.0.0.1:8080");
  EXPECT_EQ(parse_address("a b:80", 1).error,
            "expected a host name or IP address before the port, like 127.0.0.1:8080");
}

TEST(syntax, tokens_and_host_names) {
  EXPECT_TRUE(is_token("X-Request-Id"));
  EXPECT_TRUE(is_token("GET"));
  EXPECT_TRUE(is_token("!#$%&'*+-.^_`|~"));
  EXPECT_FALSE(is_token(""));
  EXPECT_FALSE(is_token("X Request"));
  EXPECT_FALSE(is_token("X:Y"));
  EXPECT_FALSE(is_token("caf\xc3\xa9"));
  EXPECT_TRUE(is_host_name("api.example.com"));
  EXPECT_TRUE(is_host_name("10.0.0.1"));
  EXPECT_FALSE(is_host_name("api.example.com:443"));
  EXPECT_FALSE(is_host_name(""));
}

}  // namespace
}  // namespace bulwark::config
