// The gateway's configuration as plain structs (DESIGN.md §4).
//
// YAML is parsed into these structs by load_file()/load_string() (loader.h),
// which also runs every validation, so a `gateway_config` that exists is valid.
// A loaded configuration is immutable and shared (`std::shared_ptr<const
// gateway_config>`); the proxy builds its pipeline from one such snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"

namespace bulwark::config {

using core::duration;

// host:port as written; `host` is an IP literal or a name resolved at startup.
struct address {
  std::string host;
  uint16_t port = 0;
  std::string text() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const address&, const address&) = default;
};

struct listener_limits {
  uint32_t max_connections = 10000;
  uint32_t max_connections_per_ip = 0;  // 0: no per-address limit
  double shed_at = 0.85;                // share of max_connections above which requests get 503
  duration idle_timeout = std::chrono::seconds(60);
  duration header_timeout = std::chrono::seconds(10);
  uint64_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 10 * 1024 * 1024;
};

struct listener {
  std::string name;
  address bind;
  listener_limits limits;
};

enum class balance { round_robin, least_request, random };

struct pool_settings {
  uint32_t max_connections = 256;
  uint32_t max_idle = 64;
  duration idle_timeout = std::chrono::seconds(30);
};

struct upstream {
  std::string name;
  std::vector<address> endpoints;
  balance balance_policy = balance::round_robin;
  duration connect_timeout = std::chrono::seconds(1);
  pool_settings pool;
  uint32_t max_pending = 1024;
};

struct header_match {
  std::string name;   // compared case-insensitively
  std::string value;  // exact match of the field value
};

struct route_match {
  std::optional<std::string> path_prefix;
  std::optional<std::string> path;  // exact
  std::optional<std::string> host;  // exact, case-insensitive, port ignored
  std::vector<std::string> methods;  // empty: any method
  std::vector<header_match> headers;  // all must match
};

struct retry_policy {
  std::optional<duration> per_try_timeout;  // unset: the route's timeout bounds the try
};

struct route {
  std::string name;
  route_match match;
  std::string upstream;          // name, as written
  std::size_t upstream_index = 0;  // index into gateway_config::upstreams, set by validation
  duration timeout = std::chrono::seconds(15);  // whole request, retries included
  retry_policy retry;
};

struct access_log_settings {
  enum class destination { stdout_stream, file, off };
  enum class format { json };  // one JSON object per line
  destination to = destination::stdout_stream;
  std::string path;  // the file, when `to` is file
  format line_format = format::json;
};

struct observability {
  access_log_settings access_log;
  std::string request_id_header = "X-Request-Id";
};

struct admin {
  address bind{"127.0.0.1", 9901};
  // Name of the environment variable that holds the bearer token for /admin/*,
  // so the secret itself is never in the file. Empty: no token is required.
  std::string token_env;
};

struct gateway_config {
  std::string source_file;  // path the config was loaded from ("<string>" for tests)
  uint32_t workers = 0;     // 0: `auto`, one per CPU
  std::vector<listener> listeners;
  std::vector<upstream> upstreams;
  std::vector<route> routes;
  observability observe;
  admin admin_server;
};

}  // namespace bulwark::config
