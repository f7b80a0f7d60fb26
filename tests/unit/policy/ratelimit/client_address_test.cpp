// The client address through trusted proxies: who is believed, in which
// order X-Forwarded-For is read, and what a forged or broken entry gets.
#include "policy/client_address.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/cidr.h"

namespace bulwark::policy {
namespace {

std::vector<config::cidr> networks(std::initializer_list<std::string_view> texts) {
  std::vector<config::cidr> result;
  for (const auto text : texts) {
    auto parsed = config::parse_cidr(text);
    EXPECT_TRUE(parsed) << text;
    if (parsed) result.push_back(*parsed);
  }
  return result;
}

std::string client(std::string_view peer, std::vector<std::string_view> xff,
                   const std::vector<config::cidr>& trusted) {
  return client_address(peer, xff, trusted);
}

TEST(ClientAddressTest, WithoutTrustedProxiesThePeerIsTheClient) {
  EXPECT_EQ(client("198.51.100.7", {"203.0.113.1"}, {}), "198.51.100.7");
}

TEST(ClientAddressTest, AnUntrustedPeerCannotChooseItsAddress) {
  const auto trusted = networks({"10.0.0.0/8"});
  EXPECT_EQ(client("198.51.100.7", {"203.0.113.1"}, trusted), "198.51.100.7");
}

TEST(ClientAddressTest, TrustedPeerGivesTheRightMostUntrustedEntry) {
  const auto trusted = networks({"10.0.0.0/8"});
  // A client-forged first entry is left of the real client and never reached.
  EXPECT_EQ(client("10.0.0.2", {"1.1.1.1, 203.0.113.9, 10.0.0.1"}, trusted), "203.0.113.9");
  EXPECT_EQ(client("10.0.0.2", {"203.0.113.9"}, trusted), "203.0.113.9");
}

TEST(ClientAddressTest, SeveralFieldLinesAreOneListInOrder) {
  const auto trusted = networks({"10.0.0.0/8"});
  EXPECT_EQ(client("10.0.0.2", {"1.1.1.1, 203.0.113.9", "10.0.0.7"}, trusted), "203.0.113.9");
  EXPECT_EQ(client("10.0.0.2", {"1.1.1.1", "203.0.113.9,,  10.0.0.7 "}, trusted), "203.0.113.9");
}

TEST(ClientAddressTest, AllHopsTrustedGivesTheLeftMost) {
  const auto trusted = networks({"10.0.0.0/8"});
  EXPECT_EQ(client("10.0.0.2", {"10.1.1.1, 10.0.0.1"}, trusted), "10.1.1.1");
  EXPECT_EQ(client("10.0.0.2", {}, trusted), "10.0.0.2");  // no header: the peer
}

TEST(ClientAddressTest, AGarbageEntryStopsAtTheLastTrustedHop) {
  const auto trusted = networks({"10.0.0.0/8"});
  EXPECT_EQ(client("10.0.0.2", {"203.0.113.9, unknown, 10.0.0.1"}, trusted), "10.0.0.1");
  EXPECT_EQ(client("10.0.0.2", {"not-an-ip"}, trusted), "10.0.0.2");
}

TEST(ClientAddressTest, PortsAndBracketsAreAccepted) {
  const auto trusted = networks({"10.0.0.0/8", "2001:db8::/32"});
  EXPECT_EQ(client("10.0.0.2", {"203.0.113.9:4711"}, trusted), "203.0.113.9");
  EXPECT_EQ(client("10.0.0.2", {"[2001:db9::1]:443"}, trusted), "2001:db9::1");
  EXPECT_EQ(client("2001:db8::5", {"[2001:DB9:0::1]"}, trusted), "2001:db9::1");
}

TEST(ClientAddressTest, AddressesAreCanonical) {
  const auto trusted = networks({"10.0.0.0/8"});
  // An IPv4 peer on a dual-stack socket matches IPv4 networks and prints as IPv4.
  EXPECT_EQ(client("::ffff:10.0.0.2", {"203.0.113.9"}, trusted), "203.0.113.9");
  EXPECT_EQ(client("::ffff:198.51.100.7", {}, {}), "198.51.100.7");
  EXPECT_EQ(client("2001:0db8:0000::0001", {}, {}), "2001:db8::1");
}

TEST(ClientAddressTest, AnUnparseablePeerIsReturnedAsGiven) {
  EXPECT_EQ(client("peer", {"203.0.113.9"}, networks({"0.0.0.0/0"})), "peer");
}

TEST(ClientAddressTest, ParseAddressRefusesWhatIsNotAnAddress) {
  EXPECT_TRUE(parse_address(" 192.0.2.1 "));
  EXPECT_FALSE(parse_address("192.0.2.1:"));
  EXPECT_FALSE(parse_address("192.0.2.1:http"));
  EXPECT_FALSE(parse_address("[192.0.2.1]"));
  EXPECT_FALSE(parse_address("[::1"));
  EXPECT_FALSE(parse_address("[::1]x"));
  EXPECT_FALSE(parse_address("example.com"));
  EXPECT_FALSE(parse_address(""));
  EXPECT_FALSE(parse_address(std::string(100, '1')));
}

}  // namespace
}  // namespace bulwark::policy
