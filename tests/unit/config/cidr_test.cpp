// config/cidr.h and listeners[].trusted_proxies: IPv4 and IPv6 networks,
// IPv4 held mapped into IPv6, host bits refused with the network meant.
#include "config/cidr.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/loader.h"
#include "test_configs.h"

namespace bulwark::config {
namespace {

using test::errors_of;
using testing::ElementsAre;

ip_bytes ip(std::string_view text) {
  auto parsed = parse_ip(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(ip_bytes{});
}

TEST(cidr, ipv4_is_stored_mapped_with_the_prefix_over_128_bits) {
  const auto network = parse_cidr("10.0.0.0/8");
  ASSERT_TRUE(network);
  EXPECT_EQ(network->prefix_length, 104);
  EXPECT_EQ(network->network, ip("::ffff:10.0.0.0"));
  EXPECT_EQ(network->text, "10.0.0.0/8");
  // The same network written as IPv6 is equal.
  EXPECT_EQ(*network, *parse_cidr("::ffff:10.0.0.0/104"));
}

TEST(cidr, ipv6_networks) {
  const auto network = parse_cidr("2001:db8::/32");
  ASSERT_TRUE(network);
  EXPECT_EQ(network->prefix_length, 32);
  EXPECT_EQ(network->network, ip("2001:db8::"));
  EXPECT_TRUE(contains(*network, ip("2001:db8:ffff::1")));
  EXPECT_FALSE(contains(*network, ip("2001:db9::1")));
}

TEST(cidr, a_bare_address_is_a_network_of_one) {
  const auto v4 = parse_cidr("192.0.2.7");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->prefix_length, 128);
  EXPECT_TRUE(contains(*v4, ip("192.0.2.7")));
  EXPECT_FALSE(contains(*v4, ip("192.0.2.8")));
  const auto v6 = parse_cidr("::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->prefix_length, 128);
  EXPECT_TRUE(contains(*v6, ip("::1")));
}

TEST(cidr, contains_checks_exactly_the_prefix_bits) {
  const auto network = *parse_cidr("172.16.0.0/12");
  EXPECT_TRUE(contains(network, ip("172.16.0.0")));
  EXPECT_TRUE(contains(network, ip("172.31.255.255")));
  EXPECT_FALSE(contains(network, ip("172.32.0.0")));
  EXPECT_FALSE(contains(network, ip("172.15.255.255")));
  // An IPv4 network never holds an IPv6 address that merely ends alike.
  EXPECT_FALSE(contains(network, ip("::172.16.0.1")));
  // An IPv4 peer seen on a dual-stack socket as ::ffff:a.b.c.d matches.
  EXPECT_TRUE(contains(network, ip("::ffff:172.20.1.1")));
}

TEST(cidr, zero_prefixes_hold_everything_of_their_family) {
  const auto all_v4 = *parse_cidr("0.0.0.0/0");
  EXPECT_EQ(all_v4.prefix_length, 96);
  EXPECT_TRUE(contains(all_v4, ip("203.0.113.9")));
  EXPECT_FALSE(contains(all_v4, ip("2001:db8::1")));
  const auto all = *parse_cidr("::/0");
  EXPECT_TRUE(contains(all, ip("203.0.113.9")));
  EXPECT_TRUE(contains(all, ip("2001:db8::1")));
}

TEST(cidr, contains_any) {
  const std::vector<cidr> networks = {*parse_cidr("10.0.0.0/8"), *parse_cidr("fd00::/8")};
  EXPECT_TRUE(contains_any(networks, ip("10.1.2.3")));
  EXPECT_TRUE(contains_any(networks, ip("fd12::1")));
  EXPECT_FALSE(contains_any(networks, ip("11.0.0.1")));
  EXPECT_FALSE(contains_any({}, ip("10.1.2.3")));
}

TEST(cidr, refusals_say_why) {
  EXPECT_EQ(read_cidr("10.1.2.3/8").error, "host bits set; did you mean 10.0.0.0/8?");
  EXPECT_EQ(read_cidr("2001:db8::1/32").error, "host bits set; did you mean 2001:db8::/32?");
  EXPECT_EQ(read_cidr("10.0.0.0/33").error, "expected a prefix length from 0 to 32 after the /");
  EXPECT_EQ(read_cidr("::/129").error, "expected a prefix length from 0 to 128 after the /");
  EXPECT_EQ(read_cidr("10.0.0.0/").error, "expected a prefix length from 0 to 32 after the /");
  EXPECT_EQ(read_cidr("10.0.0.0/-1").error, "expected a prefix length from 0 to 32 after the /");
  for (std::string_view bad : {"", "10.0.0", "10.0.0.256/32", "localhost/8", "[::1]/128",
                               "fe80::1%eth0/64", " 10.0.0.0/8", "10.0.0.0/8 "}) {
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  }
  EXPECT_FALSE(parse_ip("10.0.0.1:80"));
  EXPECT_FALSE(parse_ip(std::string(100, '1')));
}

TEST(trusted_proxies_config, defaults_to_none) {
  const auto result = load_string(test::minimal_yaml);
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.config->listeners[0].trusted_proxies.empty());
}

TEST(trusted_proxies_config, reads_every_network) {
  const auto result = load_string(test::full_yaml);
  ASSERT_TRUE(result.ok()) << result.errors.front().to_string();
  const auto& proxies = result.config->listeners[0].trusted_proxies;
  ASSERT_EQ(proxies.size(), 3u);
  EXPECT_EQ(proxies[0], *parse_cidr("10.0.0.0/8"));
  EXPECT_EQ(proxies[1].text, "2001:db8::/32");
  EXPECT_EQ(proxies[2].prefix_length, 128);
}

TEST(trusted_proxies_config, errors) {
  EXPECT_THAT(errors_of(R"(listeners:
  - name: a
    address: "127.0.0.1:0"
    trusted_proxies: [10.1.0.0/8, "::1/200", proxy.internal, [10.0.0.0/8]]
  - name: b
    address: "127.0.0.1:0"
    trusted_proxies: 10.0.0.0/8
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes: [{name: all, upstream: api}]
)"),
              ElementsAre("test.yaml:4:23: listeners[0].trusted_proxies[0]: host bits set; did "
                          "you mean 10.0.0.0/8? (got 10.1.0.0/8)",
                          "test.yaml:4:35: listeners[0].trusted_proxies[1]: expected a prefix "
                          "length from 0 to 128 after the / (got ::1/200)",
                          "test.yaml:4:46: listeners[0].trusted_proxies[2]: expected an IP network "
                          "like 10.0.0.0/8 or 2001:db8::/32, or one address (got proxy.internal)",
                          "test.yaml:4:62: listeners[0].trusted_proxies[3]: expected an IP network "
                          "like 10.0.0.0/8 or 2001:db8::/32 (got a list)",
                          "test.yaml:7:22: listeners[1].trusted_proxies: expected a list (got "
                          "10.0.0.0/8)"));
}

}  // namespace
}  // namespace bulwark::config
