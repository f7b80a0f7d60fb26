// IP networks in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`) and the test
// "is this address in that network", for `listeners[].trusted_proxies` and
// whoever decides which peer's X-Forwarded-For to believe (the client_ip of a
// rate-limit key). Pure functions: no YAML, no sockets, no allocation on the
// address path, so the request path may call contains() freely.
//
// Every address is held as 16 bytes. An IPv4 address is stored IPv4-mapped
// (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) and its prefix length counted over the
// 128 bits (an IPv4 /8 is /104), so one comparison serves both families and an
// IPv4 peer that reaches a dual-stack socket as ::ffff:a.b.c.d matches the same
// networks as when it arrives over IPv4.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/units.h"

namespace bulwark::config {

using ip_bytes = std::array<uint8_t, 16>;

// An IPv4 (`192.0.2.1`) or IPv6 (`2001:db8::1`, `::ffff:192.0.2.1`) literal;
// IPv4 comes back IPv4-mapped. No brackets, no port, no zone (`%eth0`).
std::optional<ip_bytes> parse_ip(std::string_view text);

// `ADDRESS/PREFIX`; a bare address is a network of that one address (/32 or
// /128). The error says what is wrong, ready to follow a field path; a network
// written with host bits set beyond its prefix (`10.1.2.3/8`) is refused with
// "host bits set; did you mean 10.0.0.0/8", since what was meant is a guess.
core::parsed<cidr> read_cidr(std::string_view text);
// read_cidr() without the reason.
std::optional<cidr> parse_cidr(std::string_view text);

// Whether `address` (16 bytes, IPv4 mapped) lies in `network`.
bool contains(const cidr& network, const ip_bytes& address);
// Whether any of `networks` holds `address`; false for an empty list.
bool contains_any(const std::vector<cidr>& networks, const ip_bytes& address);

}  // namespace bulwark::config
