// The address a request comes from, seen through trusted proxies: what
// rate limits keyed by `client_ip` count by.
//
// Without trusted proxies, or when the peer is not one of them, the client is
// the peer, whatever X-Forwarded-For says (a client can write anything there).
// When the peer is trusted, X-Forwarded-For is read from the right: each entry
// was appended by the hop after it, so entries are believed only while the hop
// that wrote them is trusted; the client is the right-most entry that is not
// itself a trusted proxy (nginx `real_ip_recursive on`, Envoy's
// `xff_trusted_cidrs`). An entry that is not an IP address stops the walk: the
// trusted hop that wrote it is then the best address known, so the clients
// behind it share its key rather than getting a key of their own choosing.
//
// Pure functions over strings: no sockets, no Asio; IPs parsed with inet_pton
// (config::parse_ip) and matched with config::contains_any (config/cidr.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/cidr.h"
#include "config/config.h"

namespace bulwark::policy {

// 16 bytes; an IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d), as config::cidr stores it.
using config::ip_bytes;

// An IP literal: `203.0.113.7`, `2001:db8::1`, `::ffff:203.0.113.7`; also with
// a port as some proxies write X-Forwarded-For entries (`203.0.113.7:4711`,
// `[2001:db8::1]:4711`, `[2001:db8::1]`). Surrounding spaces and tabs are
// ignored. nullopt for anything else (names, `unknown`, zone ids).
std::optional<ip_bytes> parse_address(std::string_view text);

// The canonical text of an address: dotted quad for IPv4 and IPv4-mapped
// addresses, RFC 5952 form (inet_ntop) for IPv6. One address, one text, so
// `::ffff:10.0.0.1` and `10.0.0.1` share a rate-limit key.
std::string format_ip(const ip_bytes& address);

// The client's address in canonical text. `peer` is the connection's remote
// address; `forwarded_for` the X-Forwarded-For field lines in the order
// received (each a comma-separated list). A peer that does not parse is
// returned as given.
std::string client_address(std::string_view peer, std::span<const std::string_view> forwarded_for,
                           const std::vector<config::cidr>& trusted_proxies);

}  // namespace bulwark::policy
