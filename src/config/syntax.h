// The small grammars that config values use besides durations, sizes and
// rates: host:port addresses, HTTP tokens (methods, header names) and host
// names. Pure functions, no YAML, so the proxy can reuse them.
#pragma once

#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "core/units.h"

namespace bulwark::config {

// `host:port`, the host a name, an IPv4 literal or a bracketed IPv6 literal
// (`[::1]:8080`, stored without the brackets). Ports below `min_port` are
// refused: 1 for endpoints, 0 where the OS may choose (listeners, admin).
core::parsed<address> parse_address(std::string_view text, uint16_t min_port);

// RFC 9110 §5.6.2 token: 1*tchar.
bool is_token(std::string_view text);

// Letters, digits, '-' and '.', as DNS names and IPv4 literals are written.
bool is_host_name(std::string_view text);

}  // namespace bulwark::config
