#include "proxy/router.h"

#include <algorithm>

#include "http/strings.h"

namespace bulwark::proxy {

std::string_view target_path(std::string_view target) {
  if (!target.empty() && target.front() != '/') {
    // absolute-form: scheme "://" authority path-abempty
    const auto scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      const auto path_start = target.find_first_of("/?", scheme_end + 3);
      target = path_start == std::string_view::npos ? std::string_view{} : target.substr(path_start);
    }
  }
  target = target.substr(0, target.find('?'));
  return target.empty() ? std::string_view{"/"} : target;
}

std::string_view host_without_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  return host.substr(0, host.find(':'));
}

bool route_matches(const config::route_match& match, const request_view& request) {
  if (match.path && request.path != *match.path) return false;
  if (match.path_prefix && !request.path.starts_with(*match.path_prefix)) return false;
  if (match.host && !http::iequals(host_without_port(request.host), *match.host)) return false;
  if (!match.methods.empty() &&
      std::find(match.methods.begin(), match.methods.end(), request.method) ==
          match.methods.end()) {
    return false;
  }
  for (const auto& wanted : match.headers) {
    const auto value = request.header ? request.header(wanted.name) : std::nullopt;
    if (!value || *value != wanted.value) return false;
  }
  return true;
}

const config::route* router::match(const request_view& request) const {
  for (const auto& route : routes_) {
    if (route_matches(route.match, request)) return &route;
  }
  return nullptr;
}

}  // namespace bulwark::proxy
