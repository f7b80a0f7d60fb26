#include "policy/client_address.h"

#include <arpa/inet.h>

#include <algorithm>

namespace bulwark::policy {
namespace {

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
}

bool is_v4_mapped(const ip_bytes& address) {
  return std::all_of(address.begin(), address.begin() + 10, [](std::uint8_t b) { return b == 0; }) &&
         address[10] == 0xff && address[11] == 0xff;
}

}  // namespace

std::optional<ip_bytes> parse_address(std::string_view text) {
  text = trim(text);
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = text.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && all_digits(rest.substr(1)))) return std::nullopt;
    const auto inside = text.substr(1, close - 1);
    if (inside.find(':') == std::string_view::npos) return std::nullopt;  // [v4] is not a form
    return config::parse_ip(inside);
  }
  // One colon: IPv4 with a port. Several: an IPv6 literal (a port would need brackets).
  const auto colon = text.find(':');
  if (colon != std::string_view::npos && text.find(':', colon + 1) == std::string_view::npos) {
    if (!all_digits(text.substr(colon + 1))) return std::nullopt;
    return config::parse_ip(text.substr(0, colon));
  }
  return config::parse_ip(text);
}

std::string format_ip(const ip_bytes& address) {
  char buffer[INET6_ADDRSTRLEN];
  if (is_v4_mapped(address)) {
    inet_ntop(AF_INET, address.data() + 12, buffer, sizeof buffer);
  } else {
    inet_ntop(AF_INET6, address.data(), buffer, sizeof buffer);
  }
  return buffer;
}

std::string client_address(std::string_view peer, std::span<const std::string_view> forwarded_for,
                           const std::vector<config::cidr>& trusted_proxies) {
  const auto peer_address = parse_address(peer);
  if (!peer_address) return std::string(peer);
  ip_bytes client = *peer_address;
  if (trusted_proxies.empty() || !config::contains_any(trusted_proxies, client)) return format_ip(client);
  // Right to left over every entry of every line: the last line's last entry
  // was written by the peer.
  for (auto line = forwarded_for.rbegin(); line != forwarded_for.rend(); ++line) {
    std::string_view entries = *line;
    while (!entries.empty()) {
      const auto comma = entries.rfind(',');
      const auto entry = comma == std::string_view::npos ? entries : entries.substr(comma + 1);
      entries = comma == std::string_view::npos ? std::string_view{} : entries.substr(0, comma);
      if (trim(entry).empty()) continue;  // `a,,b`: empty list elements are allowed (RFC 9110 §5.6.1)
      const auto hop = parse_address(entry);
      if (!hop) return format_ip(client);
      client = *hop;
      if (!config::contains_any(trusted_proxies, client)) return format_ip(client);
    }
  }
  return format_ip(client);  // every hop trusted: the left-most is as far as we can see
}

}  // namespace bulwark::policy
