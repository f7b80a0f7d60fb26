// Configurations and helpers shared by the config tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
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
    trusted_proxies: [10.0.0.0/8, "2001:db8::/32", 192.0.2.7]
  - name: internal
    address: "[::1]:8081"
upstreams:
  - name: api
    endpoints: [127.0.0.1:9000, backend.internal:9001]
    balance: least_request
    connect_timeout: 250ms
    pool: {max_connections: 128, max_idle: 32, idle_timeout: 1h}
    max_pending: 0
    concurrency: {adaptive: {algorithm: aimd, min: 8, max: 1000, initial: 16, backoff_ratio: 0.8, timeout: 2s}}
    circuit_breaker:
      window: 1m
      min_requests: 10
      failure_rate: 0.25
      slow_call: 3s
      slow_call_rate: 0.9
      open_for: 20s
      half_open_requests: 5
      failure_on: [connect_failure, timeout, 503, 4xx]
    health_check: {path: /ready, host: api.internal, interval: 10s, timeout: 2s, unhealthy_after: 4, healthy_after: 1}
    outlier_detection: {consecutive_failures: 3, eject_for: 1m, max_ejected: 0.3}
  - name: static
    endpoints: [127.0.0.1:9100]
    balance: random
    concurrency: {limit: 64}
routes:
  - name: login
    match:
      path_prefix: /api/auth
      host: api.example.com
      methods: [POST, PUT]
      headers: {X-Tenant: acme, Accept: application/json}
    upstream: api
    timeout: 10s
    retry:
      attempts: 4
      per_try_timeout: 2s
      backoff: {base: 50ms, max: 1s, jitter: decorrelated}
      on: [reset, 500, 503]
      methods: [GET, POST]
      budget: {ratio: 0.1, min_per_s: 5, window: 30s}
      honor_retry_after: false
      max_replay_body: 1MiB
    auth: {api_key: optional, jwt: required, scopes: [orders:read], subject_header: X-User, scopes_header: X-Scopes}
    rate_limits:
      - {name: per-ip, key: client_ip, rate: 5/min, burst: 10, algorithm: gcra, scope: local, max_keys: 5000}
      - {name: per-user, key: "jwt:sub", rate: 100/s}
      - {name: shared, key: route, rate: 1000/s, algorithm: sliding_window, scope: cluster}
    fallback: {status: 200, body: '{"items":[]}', content_type: application/json}
    fault: {delay: {percent: 10, duration: 200ms}, abort: {percent: 1.5, status: 500}}
  - name: health
    match: {path: /healthz}
    upstream: static
observability:
  access_log: {path: /var/log/bulwark/access.log, format: json}
  request_id_header: X-Correlation-Id
admin:
  address: 127.0.0.1:0
  token_env: BULWARK_ADMIN_TOKEN
auth:
  api_keys: {db: /var/lib/bulwark/keys.db, header: X-Key}
  jwt: {issuer: https://issuer.example, audiences: [api, web], jwks_file: /etc/bulwark/jwks.json,
        algorithms: [ES256, HS256], leeway: 0}
cluster:
  redis: {address: redis.internal:6380, password_env: REDIS_PASSWORD, db: 3, timeout: 200ms}
  on_redis_down: deny
  sync_interval: 50ms
  heartbeat_interval: 5s
)";

// Every error of `yaml` as `bulwark check` prints it.
inline std::vector<std::string> errors_of(std::string_view yaml) {
  std::vector<std::string> lines;
  for (const error& e : load_string(yaml, "test.yaml").errors) lines.push_back(e.to_string());
  return lines;
}

// The minimal config (9 lines) followed by `tail`, a top-level section from line 10.
inline std::shared_ptr<const gateway_config> load_with_section(std::string_view tail) {
  const auto result = load_string(std::string(minimal_yaml) + std::string(tail));
  EXPECT_TRUE(result.ok()) << result.errors.front().to_string();
  return result.config;
}

inline std::vector<std::string> errors_with_section(std::string_view tail) {
  return errors_of(std::string(minimal_yaml) + std::string(tail));
}

// A config with one route whose extra fields (indented by 4, from line 6) are `fields`.
inline std::string with_route(std::string_view fields) {
  return std::string(R"(listeners: [{name: a, address: "127.0.0.1:0"}]
upstreams: [{name: api, endpoints: [127.0.0.1:9000]}]
routes:
  - name: r
    upstream: api
)") + std::string(fields);
}

inline std::vector<std::string> route_errors(std::string_view fields) {
  return errors_of(with_route(fields));
}

}  // namespace bulwark::config::test
