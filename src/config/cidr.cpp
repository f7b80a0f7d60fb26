// CIDR parsing and matching; see cidr.h.
#include "config/cidr.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <string>

#include "config/concat.h"

namespace bulwark::config {
namespace {

constexpr std::string_view expected =
    "expected an IP network like 10.0.0.0/8 or 2001:db8::/32, or one address";

// IPv4-mapped IPv6 addresses (::ffff:0:0/96) start with these 12 bytes.
constexpr std::array<uint8_t, 12> mapped_prefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
constexpr unsigned mapped_bits = 96;

// Clears every bit after the first `prefix` bits.
ip_bytes masked(ip_bytes address, unsigned prefix) {
  for (unsigned i = 0; i < address.size(); ++i) {
    const unsigned first_bit = i * 8;
    if (prefix >= first_bit + 8) continue;
    const unsigned keep = prefix > first_bit ? prefix - first_bit : 0;
    address[i] = keep == 0 ? 0 : uint8_t(address[i] & uint8_t(0xff << (8 - keep)));
  }
  return address;
}

// The network written back in the family it was written in.
std::string network_text(const ip_bytes& address, unsigned prefix, bool ipv4) {
  char text[INET6_ADDRSTRLEN] = {};
  if (ipv4) {
    ::inet_ntop(AF_INET, address.data() + mapped_prefix.size(), text, sizeof text);
    return concat({text, "/", std::to_string(prefix - mapped_bits)});
  }
  ::inet_ntop(AF_INET6, address.data(), text, sizeof text);
  return concat({text, "/", std::to_string(prefix)});
}

}  // namespace

std::optional<ip_bytes> parse_ip(std::string_view text) {
  // inet_pton needs a terminated string; the longest IPv6 text fits this buffer.
  char buffer[INET6_ADDRSTRLEN] = {};
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::copy(text.begin(), text.end(), buffer);
  ip_bytes address{};
  if (text.find(':') == std::string_view::npos) {
    std::copy(mapped_prefix.begin(), mapped_prefix.end(), address.begin());
    if (::inet_pton(AF_INET, buffer, address.data() + mapped_prefix.size()) != 1)
      return std::nullopt;
    return address;
  }
  if (::inet_pton(AF_INET6, buffer, address.data()) != 1) return std::nullopt;
  return address;
}

core::parsed<cidr> read_cidr(std::string_view text) {
  using result = core::parsed<cidr>;
  const auto slash = text.find('/');
  const std::string_view address_text = text.substr(0, slash);
  const bool ipv4 = address_text.find(':') == std::string_view::npos;
  const auto address = parse_ip(address_text);
  if (!address) return result::failure(std::string(expected));
  const unsigned family_bits = ipv4 ? 32 : 128;
  unsigned prefix = family_bits;
  if (slash != std::string_view::npos) {
    const std::string_view prefix_text = text.substr(slash + 1);
    const char* end = prefix_text.data() + prefix_text.size();
    auto [stop, ec] = std::from_chars(prefix_text.data(), end, prefix);
    if (prefix_text.empty() || ec != std::errc{} || stop != end || prefix > family_bits) {
      return result::failure(concat({"expected a prefix length from 0 to ",
                                     std::to_string(family_bits), " after the /"}));
    }
  }
  if (ipv4) prefix += mapped_bits;
  const ip_bytes network = masked(*address, prefix);
  if (network != *address) {
    return result::failure(
        concat({"host bits set; did you mean ", network_text(network, prefix, ipv4), "?"}));
  }
  return result::success(cidr{network, uint8_t(prefix), std::string(text)});
}

std::optional<cidr> parse_cidr(std::string_view text) {
  return read_cidr(text).value;
}

bool contains(const cidr& network, const ip_bytes& address) {
  return masked(address, network.prefix_length) == network.network;
}

bool contains_any(const std::vector<cidr>& networks, const ip_bytes& address) {
  return std::any_of(networks.begin(), networks.end(),
                     [&](const cidr& network) { return contains(network, address); });
}

}  // namespace bulwark::config
