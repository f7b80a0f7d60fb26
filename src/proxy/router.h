// Route selection (DESIGN.md §4): routes match in file order, the first match
// wins, as in Envoy. Pure: no Asio, so it is unit-tested directly.
#pragma once

#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace bulwark::proxy {

// What the router looks at. `path` is the request target without its query.
struct request_view {
  std::string_view method;
  std::string_view path;
  std::string_view host;  // Host header (port included or not)
  // Value of a header, or nullopt. Called only for routes that match on headers.
  std::function<std::optional<std::string_view>(std::string_view)> header;
};

class router {
 public:
  explicit router(const std::vector<config::route>& routes) : routes_(routes) {}

  // The first matching route, or null.
  const config::route* match(const request_view& request) const;

 private:
  const std::vector<config::route>& routes_;
};

bool route_matches(const config::route_match& match, const request_view& request);

// The path part of a request target in origin-form (`/a/b?q`) or
// absolute-form (`http://host/a/b?q`); "/" when the absolute form has none.
std::string_view target_path(std::string_view target);

// Host without its port (`example.com:8080` -> `example.com`, `[::1]:80` -> `[::1]`).
std::string_view host_without_port(std::string_view host);

}  // namespace bulwark::proxy
