// The gateway's configuration as plain structs (DESIGN.md §4).
//
// YAML is parsed into these structs by load_file()/load_string() (loader.h),
// which also runs every validation, so a `gateway_config` that exists is valid.
// A loaded configuration is immutable and shared (`std::shared_ptr<const
// gateway_config>`); the proxy builds its pipeline from one such snapshot.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/aimd_limit.h"
#include "core/backoff.h"
#include "core/circuit_breaker.h"
#include "core/clock.h"
#include "core/gradient2_limit.h"

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

// An IPv4 or IPv6 network in CIDR notation (`10.0.0.0/8`, `::1/128`).
struct cidr {
  std::array<uint8_t, 16> network{};  // IPv4 as an IPv4-mapped IPv6 address
  uint8_t prefix_length = 0;          // over the 128 bits (an IPv4 /8 is stored as /104)
  std::string text;                   // as written, for errors and status
  friend bool operator==(const cidr& a, const cidr& b) {
    return a.network == b.network && a.prefix_length == b.prefix_length;
  }
};

struct listener {
  std::string name;
  address bind;
  listener_limits limits;
  // Peers whose X-Forwarded-For is believed: the client address is then the
  // right-most X-Forwarded-For entry that is not itself a trusted proxy.
  std::vector<cidr> trusted_proxies;
};

enum class balance { round_robin, least_request, random };

struct pool_settings {
  uint32_t max_connections = 256;
  uint32_t max_idle = 64;
  duration idle_timeout = std::chrono::seconds(30);
};

// Which results of a try count: for `retry.on` and `circuit_breaker.failure_on`.
// Written as a list of `connect_failure`, `reset`, `timeout`, status codes
// (`503`) and classes (`4xx`, `5xx`). A default-constructed value matches
// nothing; the two lists' defaults are retry_default() and breaker_default().
struct outcome_conditions {
  bool connect_failure = false;  // no connection could be made (refused, unreachable, connect timeout)
  bool reset = false;            // the connection broke before a full response header
  bool timeout = false;          // the try's deadline passed before the response header
  std::array<bool, 600> status{};  // status codes 100..599 that match
  bool matches_status(unsigned code) const { return code < status.size() && status[code]; }
  // Whether nothing at all matches (an empty list as written).
  bool empty() const;
  // `retry.on` when not written: connect_failure, reset, timeout, 502, 503, 504.
  static outcome_conditions retry_default();
  // `circuit_breaker.failure_on` when not written: connect_failure, reset,
  // timeout and every status from 500 to 599.
  static outcome_conditions breaker_default();
  friend bool operator==(const outcome_conditions&, const outcome_conditions&) = default;
};

// Fixed or adaptive concurrency limit per upstream (DESIGN.md `concurrency`).
struct concurrency_settings {
  enum class kind { fixed, aimd, gradient2 };
  kind algorithm = kind::fixed;
  uint32_t limit = 0;  // fixed: the bulkhead size (>= 1 once loaded)
  // Only the chosen algorithm's struct is read from the file (min <= initial <=
  // max checked, initial defaulting to min); the other keeps core's defaults.
  core::aimd_config aimd;            // `adaptive: {algorithm: aimd, min, max, initial, ...}`
  core::gradient2_config gradient2;  // `adaptive: {algorithm: gradient2, ...}` (the default)
  friend bool operator==(const concurrency_settings&, const concurrency_settings&) = default;
};

// `circuit_breaker` of an upstream. A default-constructed value is what
// `circuit_breaker: {}` loads: core's defaults (time-based 30s window in 10
// buckets, min_requests 20, failure_rate 0.5, open_for 10s, 3 probes) except
// that slow calls do not count (see no_slow_call).
struct breaker_settings {
  // `slow_call` not written: no call is slow. The policy then holds this
  // duration as `slow_call` (about 100 years, far beyond any timeout, yet far
  // from overflow when added to a steady-clock time) and 1.0 as
  // `slow_call_rate`, so the slow-call rate can never open the breaker.
  static constexpr duration no_slow_call = std::chrono::hours(24 * 365 * 100);
  static core::circuit_breaker_settings default_policy();

  core::circuit_breaker_settings policy = default_policy();  // window, rates, min_requests, open_for, probes
  outcome_conditions failure_on = outcome_conditions::breaker_default();
  bool counts_slow_calls() const { return policy.slow_call < no_slow_call; }
  friend bool operator==(const breaker_settings&, const breaker_settings&) = default;
};

struct health_check_settings {
  std::string path = "/healthz";
  std::string host;  // Host header of the probe; empty: the endpoint's host:port
  duration interval = std::chrono::seconds(5);
  duration timeout = std::chrono::seconds(1);
  uint32_t unhealthy_after = 3;  // consecutive failed probes
  uint32_t healthy_after = 2;    // consecutive passed probes
  friend bool operator==(const health_check_settings&, const health_check_settings&) = default;
};

struct outlier_detection_settings {
  uint32_t consecutive_failures = 5;
  duration eject_for = std::chrono::seconds(30);
  double max_ejected = 0.5;  // share of the endpoints that may be ejected at once
  friend bool operator==(const outlier_detection_settings&, const outlier_detection_settings&) = default;
};

struct upstream {
  std::string name;
  std::vector<address> endpoints;
  balance balance_policy = balance::round_robin;
  duration connect_timeout = std::chrono::seconds(1);
  pool_settings pool;
  uint32_t max_pending = 1024;
  std::optional<concurrency_settings> concurrency;
  std::optional<breaker_settings> circuit_breaker;
  std::optional<health_check_settings> health_check;
  std::optional<outlier_detection_settings> outlier_detection;
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

struct retry_budget_settings {
  double ratio = 0.2;  // retries at most this share of requests...
  double min_per_s = 10;  // ...plus this many per second
  duration window = std::chrono::seconds(10);
  friend bool operator==(const retry_budget_settings&, const retry_budget_settings&) = default;
};

struct backoff_settings {
  duration base = std::chrono::milliseconds(100);
  duration max = std::chrono::seconds(2);
  core::jitter jitter = core::jitter::full;
  friend bool operator==(const backoff_settings&, const backoff_settings&) = default;
};

struct retry_policy {
  uint32_t attempts = 1;  // every try, the first included; 1: no retries
  std::optional<duration> per_try_timeout;  // unset: the route's timeout bounds the try
  backoff_settings backoff;
  outcome_conditions on = outcome_conditions::retry_default();
  std::vector<std::string> methods = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"};
  std::optional<retry_budget_settings> budget;  // unset: no budget
  bool honor_retry_after = true;
  // Request bodies up to this size are kept so that a retry can send them again;
  // a longer body that has started streaming is not retried.
  uint64_t max_replay_body = 64 * 1024;
  friend bool operator==(const retry_policy&, const retry_policy&) = default;
};

// The route's answer while its upstream cannot be used (breaker open, no
// healthy endpoint, shed by the concurrency limit) instead of 503 problem+json.
struct fallback_response {
  unsigned status = 503;
  std::string body;
  std::string content_type = "application/json";
  friend bool operator==(const fallback_response&, const fallback_response&) = default;
};

struct fault_injection {
  double delay_percent = 0;  // 0..100
  duration delay = duration::zero();
  double abort_percent = 0;  // 0..100
  unsigned abort_status = 503;
  friend bool operator==(const fault_injection&, const fault_injection&) = default;
};

// --- rate limits (DESIGN.md routes[].rate_limits) ---------------------------------

// What a rate-limit policy counts by.
struct limit_key {
  enum class kind { client_ip, api_key, jwt_claim, header, route, global };
  kind source = kind::client_ip;
  std::string name;  // the claim for jwt_claim, the header for header
  std::string text() const;  // as written: "client_ip", "jwt:sub", "header:X-Tenant"
  friend bool operator==(const limit_key&, const limit_key&) = default;
};

enum class limit_algorithm { token_bucket, gcra, sliding_window };
enum class limit_scope { local, cluster };

struct rate_limit_policy {
  std::string name;
  limit_key key;
  double rate_per_second = 0;  // as parsed from `rate`
  duration rate_period = std::chrono::seconds(1);  // the unit written (`5/min`: 60s); the `w` of RateLimit-Policy
  double rate_per_period = 0;  // the count written (`5/min`: 5)
  // Requests admitted at once. Loaded policies always have burst >= 1: when not
  // written, the rate's count per period (`5/min`: 5). 0 only in hand-made values.
  uint64_t burst = 0;
  limit_algorithm algorithm = limit_algorithm::token_bucket;
  limit_scope scope = limit_scope::local;
  uint64_t max_keys = 100000;  // keys kept; least recently used beyond that are forgotten
  friend bool operator==(const rate_limit_policy&, const rate_limit_policy&) = default;
};

// --- authentication (DESIGN.md routes[].auth and auth) ---------------------------------

enum class auth_mode { off, optional, required };

struct route_auth {
  auth_mode api_key = auth_mode::off;
  auth_mode jwt = auth_mode::off;
  std::vector<std::string> scopes;  // all required
  // Headers that carry the authenticated identity upstream; copies sent by the
  // client are removed. Empty name: not sent.
  std::string subject_header = "X-Auth-Subject";
  std::string scopes_header;
  friend bool operator==(const route_auth&, const route_auth&) = default;
};

struct route {
  std::string name;
  route_match match;
  std::string upstream;          // name, as written
  std::size_t upstream_index = 0;  // index into gateway_config::upstreams, set by validation
  duration timeout = std::chrono::seconds(15);  // whole request, retries included
  retry_policy retry;
  std::optional<fallback_response> fallback;
  std::optional<fault_injection> fault;
  std::optional<route_auth> auth;
  std::vector<rate_limit_policy> rate_limits;
};

// Where the API keys live: an SQLite file (the embedded default) or, in
// cluster mode, the cluster's Redis (shared by every instance).
enum class key_store_kind { sqlite, redis };

struct api_key_settings {
  key_store_kind store = key_store_kind::sqlite;
  // A relative path is resolved against the config file's directory at load.
  // Unused with store: redis.
  std::string db = "./data/keys.db";
  std::string header = "X-API-Key";  // also accepted: Authorization: Bearer bwk_...
  friend bool operator==(const api_key_settings&, const api_key_settings&) = default;
};

enum class jwt_algorithm { hs256, rs256, es256 };

struct jwt_settings {
  std::string issuer;  // empty: not checked
  std::vector<std::string> audiences;  // empty: not checked; else `aud` must name one
  std::string jwks_file;  // required; relative: against the config file's directory
  std::vector<jwt_algorithm> algorithms = {jwt_algorithm::rs256, jwt_algorithm::es256};
  duration leeway = std::chrono::seconds(30);
  friend bool operator==(const jwt_settings&, const jwt_settings&) = default;
};

struct auth_settings {
  std::optional<api_key_settings> api_keys;
  std::optional<jwt_settings> jwt;
  friend bool operator==(const auth_settings&, const auth_settings&) = default;
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

// --- cluster mode (DESIGN.md §9) -----------------------------------------------------

struct redis_settings {
  address endpoint{"127.0.0.1", 6379};
  // The environment variable that holds the password (AUTH), so the secret is
  // never in the file. Empty: no AUTH.
  std::string password_env;
  uint32_t db = 0;  // SELECT
  duration timeout = std::chrono::milliseconds(50);  // every command, connects included
  friend bool operator==(const redis_settings&, const redis_settings&) = default;
};

// What cluster-scope rate limits do while Redis is unreachable.
enum class redis_down_policy {
  local,  // each instance enforces its fair share of the limit
  allow,  // admit (tokens already leased are used first)
  deny    // refuse once the tokens already leased are spent
};

struct cluster_settings {
  redis_settings redis;
  redis_down_policy on_redis_down = redis_down_policy::local;
  // How often an instance tops up and returns its leases (one script call per
  // cluster policy with work to do).
  duration sync_interval = std::chrono::milliseconds(20);
  // How often an instance says it is alive; it counts as gone after three
  // missed beats.
  duration heartbeat_interval = std::chrono::seconds(1);
  friend bool operator==(const cluster_settings&, const cluster_settings&) = default;
};

struct gateway_config {
  std::string source_file;  // path the config was loaded from ("<string>" for tests)
  uint32_t workers = 0;     // 0: `auto`, one per CPU
  std::vector<listener> listeners;
  std::vector<upstream> upstreams;
  std::vector<route> routes;
  observability observe;
  admin admin_server;
  auth_settings auth;
  std::optional<cluster_settings> cluster;  // unset: no cluster mode
};

}  // namespace bulwark::config
