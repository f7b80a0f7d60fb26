// Configurations and helpers shared by the config tests.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/loader.h"

namespace bulwark::config::test {

// The smallest valid configuration: one listener, one upstream, one route.
inline constexpr std::string_view minimal_yaml = R"(listeners:
  - name: public
    address: 127.0.0.1:0
upstreams:
  - name: api
    endpoints: [127.0.0.1:9000]
routes:
  - name: all
    upstream: api
)";

// Every supported field, none at its default.
inline constexpr std::string_view full_yaml = R"(workers: 4
listeners:
  - name: public
    address: 0.0.0.0:8080
    limits:
      max_connections: 5000
      max_connections_per_ip: 100
      shed_at: 0.9
      idle_timeout: 2m
      header_timeout: 5s
      max_header_bytes: 32KiB
      max_body_bytes: 1GiB
  - name: internal
    address: "[::1]:8081"
upstreams:
  - name: api
    endpoints: [127.0.0.1:9000, backend.internal:9001]
    balance: least_request
    connect_timeout: 250ms
    pool: {max_connections: 128, max_idle: 32, idle_timeout: 1h}
    max_pending: 0
  - name: static
    endpoints: [127.0.0.1:9100]
    balance: random
routes:
  - name: login
    match:
      path_prefix: /api/auth
      host: api.example.com
      methods: [POST, PUT]
      headers: {X-Tenant: acme, Accept: application/json}
    upstream: api
    timeout: 10s
    retry: {per_try_timeout: 2s}
  - name: health
    match: {path: /healthz}
    upstream: static
observability:
  access_log: {path: /var/log/bulwark/access.log, format: json}
  request_id_header: X-Correlation-Id
admin:
  address: 127.0.0.1:0
  token_env: BULWARK_ADMIN_TOKEN
)";

// Every error of `yaml` as `bulwark check` prints it.
inline std::vector<std::string> errors_of(std::string_view yaml) {
  std::vector<std::string> lines;
  for (const error& e : load_string(yaml, "test.yaml").errors) lines.push_back(e.to_string());
  return lines;
}

}  // namespace bulwark::config::test
