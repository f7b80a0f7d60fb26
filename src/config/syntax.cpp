// Addresses, tokens and host names; see syntax.h.
#include "config/syntax.h"

#include "config/concat.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace bulwark::config {
namespace {

constexpr std::string_view address_expected = "expected host:port, like 127.0.0.1:8080";

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_ipv6_literal(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
  });
}

struct host_and_port {
  std::string_view host;
  std::string_view port;
  bool ipv6 = false;
};

// Splits at the last ':' (after the ']' of an IPv6 literal); nullopt when the
// text has no port at all.
std::optional<host_and_port> split_host_port(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    return host_and_port{text.substr(1, close - 1), text.substr(close + 2), true};
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return host_and_port{text.substr(0, colon), text.substr(colon + 1), false};
}

}  // namespace

bool is_token(std::string_view text) {
  constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
  return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
    return is_alnum(c) || specials.find(c) != std::string_view::npos;
  });
}

bool is_host_name(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(),
                                      [](char c) { return is_alnum(c) || c == '-' || c == '.'; });
}

core::parsed<address> parse_address(std::string_view text, uint16_t min_port) {
  using result = core::parsed<address>;
  const auto parts = split_host_port(text);
  if (!parts || parts->host.empty()) return result::failure(std::string(address_expected));
  if (!parts->ipv6 && parts->host.find(':') != std::string_view::npos) {
    return result::failure("write an IPv6 address in brackets, like [::1]:8080");
  }
  if (parts->ipv6 ? !is_ipv6_literal(parts->host) : !is_host_name(parts->host)) {
    return result::failure(
        "expected a host name or IP address before the port, like 127.0.0.1:8080");
  }
  const std::string port_range =
      concat({"expected a port from ", std::to_string(min_port), " to 65535"});
  unsigned port = 0;
  const char* end = parts->port.data() + parts->port.size();
  auto [stop, ec] = std::from_chars(parts->port.data(), end, port);
  if (parts->port.empty() || ec != std::errc{} || stop != end || port < min_port || port > 65535) {
    return result::failure(
        concat({port_range, " after the host", min_port == 0 ? " (0: the OS chooses)" : ""}));
  }
  return result::success(address{std::string(parts->host), uint16_t(port)});
}

}  // namespace bulwark::config
