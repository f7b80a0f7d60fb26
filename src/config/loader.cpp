// The gateway's configuration schema (DESIGN.md §4): which fields each YAML map
// has, how each is read and checked on its own, and the entry points. Checks
// that relate several fields live in validate.cpp, except the shape of one small
// map (`limit` or `adaptive`, not both), checked where it is read. The generic
// machinery (positions, unknown fields, "not supported yet") is in yaml_reader.cpp.
#include "config/loader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/cidr.h"
#include "config/concat.h"
#include "config/did_you_mean.h"
#include "config/syntax.h"
#include "config/validate.h"
#include "config/yaml_reader.h"

namespace bulwark::config {
namespace {

// Fields that DESIGN.md §4 describes but this version does not build yet. They
// are refused with "not supported yet" rather than ignored: a user who writes a
// response cache must not believe they have one. To build one, delete its line
// here and add its reader to the field table of its map below. (A value can be
// refused the same way, in its reader, with a message that starts "not
// supported yet: ".)
const std::vector<designed_field> not_supported_yet = {
    {"", "cache"},
    {"listeners[]", "tls"},
    {"routes[]", "cache"},
    {"routes[]", "websocket"},
};

constexpr uint64_t max_u32 = std::numeric_limits<uint32_t>::max();
// More threads than this is a typo, not a machine (and `auto` exists).
constexpr uint64_t max_workers = 1024;
// A request line, Host and the usual handful of headers take about 1 KiB; a
// smaller limit would answer ordinary requests with 431.
constexpr uint64_t min_header_bytes = 1024;
// `attempts` counts every try; ten tries is already far beyond what helps a
// request, and more turns an outage into a retry storm.
constexpr uint64_t max_attempts = 10;
// With at most 10 tries a request makes at most 9 retries, so a larger budget
// ratio could never bind.
constexpr double max_budget_ratio = 9;
constexpr double max_budget_per_s = 1'000'000;
// Netflix's Gradient2 accepts growth up to this factor of the long-term
// latency before shrinking; beyond 10 the limit would never shrink.
constexpr double max_rtt_tolerance = 10;

// --- cluster mode (the semantics are in docs/cluster.md) ---
// SELECT takes a signed 32-bit index (redis.conf's `databases` is an int), so no
// database beyond this can exist.
constexpr uint64_t max_redis_db = std::numeric_limits<int32_t>::max();
// `redis.timeout` bounds every command, connects included. Under 1ms even a
// Redis on the same host misses it whenever it is busy; beyond 10s a Redis
// that has not answered is down, and waiting longer only delays on_redis_down.
constexpr duration min_redis_timeout = std::chrono::milliseconds(1);
constexpr duration max_redis_timeout = std::chrono::seconds(10);
// Each instance makes one script call per cluster policy with work to do per
// `sync_interval`. Under 5ms that is over 200 calls a second per instance and
// policy, for leases that a few more tokens would cover; beyond 1s a lease must
// last a whole second of demand, so leases grow and with them what instances
// can over-admit together, and Redis's absence is noticed later.
constexpr duration min_sync_interval = std::chrono::milliseconds(5);
constexpr duration max_sync_interval = std::chrono::seconds(1);
// An instance counts as gone after three missed beats. Under 100ms a pause of
// a few hundred milliseconds (a busy host, a slow fsync) makes a live instance
// look gone; beyond 60s a dead one keeps its share of `local` limits for three
// minutes. (heartbeat_interval >= 2 x sync_interval is checked in validate.cpp.)
constexpr duration min_heartbeat_interval = std::chrono::milliseconds(100);
constexpr duration max_heartbeat_interval = std::chrono::seconds(60);

bool is_environment_variable_name(std::string_view name) {
  const auto letter_or_underscore = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return !name.empty() && letter_or_underscore(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return letter_or_underscore(c) || digit(c); });
}

template <class T, class U>
void assign(T& target, const std::optional<U>& value) {
  if (value) target = T(*value);
}

template <class T>
void assign_push(std::vector<T>& target, const std::optional<T>& value) {
  if (value) target.push_back(*value);
}

using field = yaml_reader::field;
using node = YAML::Node;
using path_t = std::string;

// The field tables, one per YAML map, built from a few field kinds so that
// each table reads like the reference in docs/configuration.md.
class schema {
 public:
  explicit schema(yaml_reader& in) : in_(in) {}

  void read(const node& root, gateway_config& config) {
    in_.read_fields(root, "",
                    {
                        {"workers", [&](const node& v,
                                        const path_t& p) { read_workers(v, p, config.workers); }},
                        list("listeners", "listener", config.listeners, &schema::read_listener),
                        list("upstreams", "upstream", config.upstreams, &schema::read_upstream),
                        list("routes", "route", config.routes, &schema::read_route),
                        map("observability", config.observe, &schema::read_observability),
                        map("admin", config.admin_server, &schema::read_admin),
                        map("auth", config.auth, &schema::read_auth),
                        optional_map("cluster", config.cluster, &schema::read_cluster),
                    });
  }

 private:
  // --- field kinds -------------------------------------------------------------------

  field name(std::string& target) {
    return {"name",
            [&](const node& v, const path_t& p) { assign(target, in_.non_empty_string(v, p)); },
            true};
  }
  field count(std::string_view key, uint32_t& target, uint64_t min) {
    return {key, [&, min](const node& v, const path_t& p) {
              assign(target, in_.integer(v, p, min, max_u32));
            }};
  }
  template <class Duration>
  field timeout(std::string_view key, Duration& target) {
    return {key,
            [&](const node& v, const path_t& p) { assign(target, in_.positive_duration(v, p)); }};
  }
  // A duration from `min` to `max`, both included; zero is refused by the range.
  field bounded_duration(std::string_view key, duration& target, duration min, duration max) {
    return {key, [&, min, max](const node& v, const path_t& p) {
              auto value = in_.non_negative_duration(v, p);
              if (value && (*value < min || *value > max)) {
                in_.fail(p, concat({"must be from ", core::format_duration(min), " to ",
                                    core::format_duration(max)}));
                return;
              }
              assign(target, value);
            }};
  }
  field bytes(std::string_view key, uint64_t& target) {
    return {key, [&](const node& v, const path_t& p) { assign(target, in_.size(v, p)); }};
  }
  field host_port(std::string_view key, address& target, uint16_t min_port, bool required) {
    return {key,
            [&, min_port](const node& v, const path_t& p) {
              assign(target, in_.host_port(v, p, min_port));
            },
            required};
  }
  template <class T>
  field map(std::string_view key, T& target, void (schema::*read)(const node&, const path_t&, T&)) {
    return {key,
            [this, &target, read](const node& v, const path_t& p) { (this->*read)(v, p, target); }};
  }
  // A map whose presence turns a feature on: `circuit_breaker: {}` is a breaker
  // with every default, no `circuit_breaker` none at all.
  template <class T>
  field optional_map(std::string_view key, std::optional<T>& target,
                     void (schema::*read)(const node&, const path_t&, T&)) {
    return {key, [this, &target, read](const node& v, const path_t& p) {
              (this->*read)(v, p, target.emplace());
            }};
  }
  template <class T>
  field number(std::string_view key, T& target, double min, double max) {
    return {key, [&, min, max](const node& v, const path_t& p) {
              assign(target, in_.number(v, p, min, max));
            }};
  }
  field share(std::string_view key, double& target) {
    return {key, [&](const node& v, const path_t& p) { assign(target, in_.ratio(v, p)); }};
  }
  field status_code(std::string_view key, unsigned& target) {
    return {key,
            [&](const node& v, const path_t& p) { assign(target, in_.integer(v, p, 100, 599)); }};
  }
  // A list that must hold at least one `kind`.
  template <class T>
  field list(std::string_view key, std::string_view kind, std::vector<T>& items,
             void (schema::*read_item)(const node&, const path_t&, T&)) {
    auto read = [this, kind, &items, read_item](const node& v, const path_t& p) {
      in_.read_list(v, p, [&](const node& item, const path_t& ip) {
        (this->*read_item)(item, ip, items.emplace_back());
      });
      if (v.IsSequence() && v.size() == 0)
        in_.fail(p, concat({"at least one ", kind, " is required"}), "");
    };
    return {key, read, true};
  }

  // --- top level ---------------------------------------------------------------------

  void read_workers(const node& v, const path_t& p, uint32_t& workers) {
    if (v.IsScalar() && v.Scalar() == "auto") {
      workers = 0;
    } else if (!v.IsScalar() || v.Scalar().find_first_not_of("0123456789") != std::string::npos) {
      in_.fail(p,
               concat({"expected auto or a whole number from 1 to ", std::to_string(max_workers)}),
               describe(v));
    } else {
      assign(workers, in_.integer(v, p, 1, max_workers));
    }
  }

  void read_observability(const node& n, const path_t& p, observability& observe) {
    in_.read_fields(
        n, p,
        {
            {"access_log",
             [&](const node& v, const path_t& vp) { read_access_log(v, vp, observe.access_log); }},
            {"request_id_header",
             [&](const node& v, const path_t& vp) {
               assign(observe.request_id_header, header_name(v, vp));
             }},
        });
  }

  // A map {path, format}, or the scalar `off` as a shorthand for {path: off}.
  void read_access_log(const node& n, const path_t& p, access_log_settings& log) {
    if (n.IsScalar()) {
      if (n.Scalar() == "off") {
        log.to = access_log_settings::destination::off;
      } else {
        in_.fail(p, "expected a map like {path: stdout, format: json}, or off");
      }
      return;
    }
    in_.read_fields(
        n, p,
        {
            {"path", [&](const node& v, const path_t& vp) { read_access_log_path(v, vp, log); }},
            {"format",
             [&](const node& v, const path_t& vp) {
               assign(log.line_format, in_.choice<access_log_settings::format>(
                                           v, vp, {{"json", access_log_settings::format::json}}));
             }},
        });
  }

  void read_access_log_path(const node& v, const path_t& p, access_log_settings& log) {
    auto text = in_.string(v, p, "expected stdout, off or a file path");
    if (!text) return;
    if (*text == "stdout") {
      log.to = access_log_settings::destination::stdout_stream;
    } else if (*text == "off") {
      log.to = access_log_settings::destination::off;
    } else if (text->empty()) {
      in_.fail(p, "expected stdout, off or a file path");
    } else {
      log.to = access_log_settings::destination::file;
      log.path = *text;
    }
  }

  void read_admin(const node& n, const path_t& p, admin& admin_server) {
    in_.read_fields(n, p,
                    {
                        host_port("address", admin_server.bind, 0, false),
                        {"token_env",
                         [&](const node& v, const path_t& vp) {
                           assign(admin_server.token_env,
                                  environment_variable(v, vp, "BULWARK_ADMIN_TOKEN"));
                         }},
                    });
  }

  // --- cluster -----------------------------------------------------------------------

  void read_cluster(const node& n, const path_t& p, cluster_settings& cluster) {
    in_.read_fields(
        n, p,
        {
            map("redis", cluster.redis, &schema::read_redis),
            {"on_redis_down",
             [&](const node& v, const path_t& vp) {
               assign(cluster.on_redis_down,
                      in_.choice<redis_down_policy>(v, vp,
                                                    {{"local", redis_down_policy::local},
                                                     {"allow", redis_down_policy::allow},
                                                     {"deny", redis_down_policy::deny}}));
             }},
            bounded_duration("sync_interval", cluster.sync_interval, min_sync_interval,
                             max_sync_interval),
            bounded_duration("heartbeat_interval", cluster.heartbeat_interval,
                             min_heartbeat_interval, max_heartbeat_interval),
        });
  }

  void read_redis(const node& n, const path_t& p, redis_settings& redis) {
    in_.read_fields(
        n, p,
        {
            host_port("address", redis.endpoint, 1, false),
            {"password_env",
             [&](const node& v, const path_t& vp) {
               assign(redis.password_env, environment_variable(v, vp, "REDIS_PASSWORD"));
             }},
            {"db",
             [&](const node& v, const path_t& vp) {
               assign(redis.db, in_.integer(v, vp, 0, max_redis_db));
             }},
            bounded_duration("timeout", redis.timeout, min_redis_timeout, max_redis_timeout),
        });
  }

  // --- listeners ---------------------------------------------------------------------

  void read_listener(const node& n, const path_t& p, listener& l) {
    in_.read_fields(n, p,
                    {
                        name(l.name),
                        host_port("address", l.bind, 0, true),
                        map("limits", l.limits, &schema::read_limits),
                        {"trusted_proxies",
                         [&](const node& v, const path_t& vp) {
                           read_networks(v, vp, l.trusted_proxies);
                         }},
                    });
  }

  void read_networks(const node& v, const path_t& p, std::vector<cidr>& networks) {
    in_.read_list(v, p, [&](const node& item, const path_t& ip) {
      auto text = in_.string(item, ip, "expected an IP network like 10.0.0.0/8 or 2001:db8::/32");
      if (!text) return;
      auto network = read_cidr(*text);
      if (!network.ok()) {
        in_.fail(ip, network.error);
        return;
      }
      networks.push_back(*network.value);
    });
  }

  void read_limits(const node& n, const path_t& p, listener_limits& limits) {
    in_.read_fields(
        n, p,
        {
            count("max_connections", limits.max_connections, 1),
            count("max_connections_per_ip", limits.max_connections_per_ip, 0),
            {"shed_at",
             [&](const node& v, const path_t& vp) { assign(limits.shed_at, in_.ratio(v, vp)); }},
            timeout("idle_timeout", limits.idle_timeout),
            timeout("header_timeout", limits.header_timeout),
            {"max_header_bytes",
             [&](const node& v, const path_t& vp) {
               read_max_header_bytes(v, vp, limits.max_header_bytes);
             }},
            bytes("max_body_bytes", limits.max_body_bytes),
        });
  }

  void read_max_header_bytes(const node& v, const path_t& p, uint64_t& target) {
    auto size = in_.size(v, p);
    if (size && *size < min_header_bytes) {
      in_.fail(
          p, "must be at least 1KiB: a request line, Host and a few usual headers need that much");
      return;
    }
    assign(target, size);
  }

  // --- upstreams ---------------------------------------------------------------------

  void read_upstream(const node& n, const path_t& p, upstream& u) {
    in_.read_fields(
        n, p,
        {
            name(u.name),
            {"endpoints",
             [&](const node& v, const path_t& vp) { read_endpoints(v, vp, u.endpoints); }, true},
            {"balance", [&](const node& v,
                            const path_t& vp) { assign(u.balance_policy, read_balance(v, vp)); }},
            timeout("connect_timeout", u.connect_timeout),
            map("pool", u.pool, &schema::read_pool),
            count("max_pending", u.max_pending, 0),
            optional_map("concurrency", u.concurrency, &schema::read_concurrency),
            optional_map("circuit_breaker", u.circuit_breaker, &schema::read_circuit_breaker),
            optional_map("health_check", u.health_check, &schema::read_health_check),
            optional_map("outlier_detection", u.outlier_detection,
                         &schema::read_outlier_detection),
        });
  }

  void read_endpoints(const node& v, const path_t& p, std::vector<address>& endpoints) {
    in_.read_list(v, p, [&](const node& item, const path_t& ip) {
      if (auto endpoint = in_.host_port(item, ip, 1)) endpoints.push_back(*endpoint);
    });
    if (v.IsSequence() && v.size() == 0) in_.fail(p, "at least one endpoint is required", "");
  }

  std::optional<balance> read_balance(const node& v, const path_t& p) {
    return in_.choice<balance>(v, p,
                               {
                                   {"round_robin", balance::round_robin},
                                   {"least_request", balance::least_request},
                                   {"random", balance::random},
                               });
  }

  void read_pool(const node& n, const path_t& p, pool_settings& pool) {
    in_.read_fields(n, p,
                    {
                        count("max_connections", pool.max_connections, 1),
                        count("max_idle", pool.max_idle, 0),
                        timeout("idle_timeout", pool.idle_timeout),
                    });
  }

  // {limit: N} or {adaptive: {...}}, exactly one of them.
  void read_concurrency(const node& n, const path_t& p, concurrency_settings& c) {
    bool fixed = false;
    bool adaptive = false;
    in_.read_fields(n, p,
                    {
                        {"limit",
                         [&](const node& v, const path_t& vp) {
                           fixed = true;
                           c.algorithm = concurrency_settings::kind::fixed;
                           assign(c.limit, in_.integer(v, vp, 1, max_u32));
                         }},
                        {"adaptive",
                         [&](const node& v, const path_t& vp) {
                           adaptive = true;
                           read_adaptive(v, vp, c);
                         }},
                    });
    if (fixed && adaptive) {
      in_.fail(p + ".adaptive", "set either limit or adaptive, not both", "");
    } else if (!fixed && !adaptive && (n.IsMap() || n.IsNull())) {
      in_.fail(p, "expected {limit: N} for a fixed limit or {adaptive: {min: N, max: N}}", "");
    }
  }

  // The fields of both algorithms are read, then those of the chosen one kept:
  // the map's keys come in any order, `algorithm` perhaps last.
  void read_adaptive(const node& n, const path_t& p, concurrency_settings& c) {
    using kind = concurrency_settings::kind;
    kind algorithm = kind::gradient2;
    std::optional<uint64_t> min, max, initial, queue_size, long_window;
    std::optional<double> backoff_ratio, smoothing, rtt_tolerance;
    std::optional<duration> timeout;
    const auto integer = [this](std::string_view key, std::optional<uint64_t>& target,
                                uint64_t low) {
      return field{key, [this, target = &target, low](const node& v, const path_t& vp) {
                     *target = in_.integer(v, vp, low, max_u32);
                   }};
    };
    in_.read_fields(
        n, p,
        {
            {"algorithm",
             [&](const node& v, const path_t& vp) {
               assign(algorithm, in_.choice<kind>(v, vp, {{"gradient2", kind::gradient2},
                                                          {"aimd", kind::aimd}}));
             }},
            integer("min", min, 1),
            integer("max", max, 1),
            integer("initial", initial, 1),
            {"backoff_ratio",
             [&](const node& v, const path_t& vp) {
               backoff_ratio = in_.number(v, vp, 0.5, 1);
               if (backoff_ratio && *backoff_ratio >= 1) {
                 in_.fail(vp, "must be less than 1: each drop must shrink the limit");
                 backoff_ratio.reset();
               }
             }},
            {"timeout",
             [&](const node& v, const path_t& vp) { timeout = in_.positive_duration(v, vp); }},
            {"smoothing", [&](const node& v, const path_t& vp) { smoothing = in_.ratio(v, vp); }},
            integer("queue_size", queue_size, 0),
            integer("long_window", long_window, 1),
            {"rtt_tolerance",
             [&](const node& v, const path_t& vp) {
               rtt_tolerance = in_.number(v, vp, 1, max_rtt_tolerance);
             }},
        });
    c.algorithm = algorithm;
    const bool aimd = algorithm == kind::aimd;
    // When `algorithm` itself was refused, which fields belong is unknown.
    const bool algorithm_known = !in_.failed(p + ".algorithm");
    const auto only_for = [&](std::string_view key, bool written, std::string_view owner) {
      if (written && algorithm_known)
        in_.fail(concat({p, ".", key}), concat({"only for algorithm: ", owner}));
    };
    only_for("backoff_ratio", backoff_ratio && !aimd, "aimd");
    only_for("timeout", timeout && !aimd, "aimd");
    only_for("smoothing", smoothing && aimd, "gradient2");
    only_for("queue_size", queue_size && aimd, "gradient2");
    only_for("long_window", long_window && aimd, "gradient2");
    only_for("rtt_tolerance", rtt_tolerance && aimd, "gradient2");
    if (aimd) {
      assign(c.aimd.min_limit, min);
      assign(c.aimd.max_limit, max);
      assign(c.aimd.initial_limit, initial);
      assign(c.aimd.backoff_ratio, backoff_ratio);
      assign(c.aimd.timeout, timeout);
    } else {
      assign(c.gradient2.min_limit, min);
      assign(c.gradient2.max_limit, max);
      assign(c.gradient2.initial_limit, initial);
      assign(c.gradient2.smoothing, smoothing);
      assign(c.gradient2.queue_size, queue_size);
      assign(c.gradient2.long_window, long_window);
      assign(c.gradient2.rtt_tolerance, rtt_tolerance);
    }
  }

  void read_circuit_breaker(const node& n, const path_t& p, breaker_settings& breaker) {
    core::circuit_breaker_settings& policy = breaker.policy;
    in_.read_fields(
        n, p,
        {
            timeout("window", policy.window),
            count("min_requests", policy.min_requests, 1),
            share("failure_rate", policy.failure_rate),
            timeout("slow_call", policy.slow_call),
            share("slow_call_rate", policy.slow_call_rate),
            timeout("open_for", policy.open_for),
            {"half_open_requests",
             [&](const node& v, const path_t& vp) {
               assign(policy.half_open_requests,
                      in_.integer(v, vp, 1, core::circuit_breaker_settings::max_half_open_requests));
             }},
            {"failure_on",
             [&](const node& v, const path_t& vp) { read_outcomes(v, vp, breaker.failure_on); }},
        });
    // Always time-based: "30s" says what a user means by a window; a count of
    // calls would stretch over hours on a quiet upstream.
    policy.window_type = core::window_kind::time_based;
  }

  void read_health_check(const node& n, const path_t& p, health_check_settings& check) {
    in_.read_fields(
        n, p,
        {
            {"path",
             [&](const node& v, const path_t& vp) { assign(check.path, request_path(v, vp)); }},
            {"host",
             [&](const node& v, const path_t& vp) { assign(check.host, host_header(v, vp)); }},
            timeout("interval", check.interval),
            timeout("timeout", check.timeout),
            count("unhealthy_after", check.unhealthy_after, 1),
            count("healthy_after", check.healthy_after, 1),
        });
  }

  void read_outlier_detection(const node& n, const path_t& p, outlier_detection_settings& o) {
    in_.read_fields(n, p,
                    {
                        count("consecutive_failures", o.consecutive_failures, 1),
                        timeout("eject_for", o.eject_for),
                        share("max_ejected", o.max_ejected),
                    });
  }

  // `connect_failure`, `reset`, `timeout`, `503`, `5xx`: the list replaces the default.
  void read_outcomes(const node& v, const path_t& p, outcome_conditions& conditions) {
    conditions = outcome_conditions{};
    in_.read_list(v, p, [&](const node& item, const path_t& ip) {
      constexpr std::string_view expected =
          "expected connect_failure, reset, timeout, a status code from 100 to 599, 4xx or 5xx";
      auto text = in_.string(item, ip, expected);
      if (!text) return;
      if (*text == "connect_failure") {
        conditions.connect_failure = true;
      } else if (*text == "reset") {
        conditions.reset = true;
      } else if (*text == "timeout") {
        conditions.timeout = true;
      } else if (*text == "4xx" || *text == "5xx") {
        const std::size_t first = (*text == "4xx") ? 400 : 500;
        std::fill_n(conditions.status.begin() + std::ptrdiff_t(first), 100, true);
      } else if (!text->empty() && text->find_first_not_of("0123456789") == std::string::npos) {
        if (auto code = in_.integer(item, ip, 100, 599)) conditions.status[*code] = true;
      } else {
        std::string message(expected);
        if (auto match = closest_match(*text, {"connect_failure", "reset", "timeout"}))
          message += concat({"; did you mean `", *match, "`?"});
        in_.fail(ip, message);
      }
    });
  }

  // --- routes ------------------------------------------------------------------------

  void read_route(const node& n, const path_t& p, route& r) {
    in_.read_fields(n, p,
                    {
                        name(r.name),
                        map("match", r.match, &schema::read_match),
                        {"upstream",
                         [&](const node& v, const path_t& vp) {
                           assign(r.upstream, in_.non_empty_string(v, vp));
                         },
                         true},
                        timeout("timeout", r.timeout),
                        map("retry", r.retry, &schema::read_retry),
                        optional_map("auth", r.auth, &schema::read_route_auth),
                        {"rate_limits",
                         [&](const node& v, const path_t& vp) {
                           in_.read_list(v, vp, [&](const node& item, const path_t& ip) {
                             read_rate_limit(item, ip, r.rate_limits.emplace_back());
                           });
                         }},
                        optional_map("fallback", r.fallback, &schema::read_fallback),
                        optional_map("fault", r.fault, &schema::read_fault),
                    });
  }

  void read_match(const node& n, const path_t& p, route_match& match) {
    in_.read_fields(
        n, p,
        {
            {"path_prefix",
             [&](const node& v, const path_t& vp) {
               assign(match.path_prefix, request_path(v, vp));
             }},
            {"path",
             [&](const node& v, const path_t& vp) { assign(match.path, request_path(v, vp)); }},
            {"host",
             [&](const node& v, const path_t& vp) { assign(match.host, host_name(v, vp)); }},
            {"methods",
             [&](const node& v, const path_t& vp) { read_methods(v, vp, match.methods); }},
            {"headers",
             [&](const node& v, const path_t& vp) { read_headers(v, vp, match.headers); }},
        });
  }

  void read_retry(const node& n, const path_t& p, retry_policy& retry) {
    in_.read_fields(
        n, p,
        {
            {"attempts",
             [&](const node& v, const path_t& vp) {
               assign(retry.attempts, in_.integer(v, vp, 1, max_attempts));
             }},
            timeout("per_try_timeout", retry.per_try_timeout),
            map("backoff", retry.backoff, &schema::read_backoff),
            {"on",
             [&](const node& v, const path_t& vp) {
               read_outcomes(v, vp, retry.on);
               if (v.IsSequence() && v.size() == 0) {
                 in_.fail(vp,
                          "at least one condition is required; to turn retries off, set "
                          "attempts: 1",
                          "");
               }
             }},
            {"methods",
             [&](const node& v, const path_t& vp) {
               retry.methods.clear();
               read_methods(v, vp, retry.methods);
               if (v.IsSequence() && v.size() == 0) {
                 in_.fail(vp,
                          "at least one method is required; to turn retries off, set attempts: 1",
                          "");
               }
             }},
            optional_map("budget", retry.budget, &schema::read_budget),
            {"honor_retry_after",
             [&](const node& v, const path_t& vp) {
               assign(retry.honor_retry_after, in_.boolean(v, vp));
             }},
            bytes("max_replay_body", retry.max_replay_body),
        });
  }

  void read_backoff(const node& n, const path_t& p, backoff_settings& backoff) {
    in_.read_fields(n, p,
                    {
                        timeout("base", backoff.base),
                        timeout("max", backoff.max),
                        {"jitter",
                         [&](const node& v, const path_t& vp) {
                           assign(backoff.jitter, in_.choice<core::jitter>(
                                                      v, vp,
                                                      {{"full", core::jitter::full},
                                                       {"equal", core::jitter::equal},
                                                       {"decorrelated", core::jitter::decorrelated},
                                                       {"none", core::jitter::none}}));
                         }},
                    });
  }

  void read_budget(const node& n, const path_t& p, retry_budget_settings& budget) {
    in_.read_fields(n, p,
                    {
                        number("ratio", budget.ratio, 0, max_budget_ratio),
                        number("min_per_s", budget.min_per_s, 0, max_budget_per_s),
                        timeout("window", budget.window),
                    });
  }

  void read_fallback(const node& n, const path_t& p, fallback_response& fallback) {
    in_.read_fields(n, p,
                    {
                        status_code("status", fallback.status),
                        {"body",
                         [&](const node& v, const path_t& vp) {
                           assign(fallback.body, in_.string(v, vp, "expected the body as a string"));
                         }},
                        {"content_type",
                         [&](const node& v, const path_t& vp) {
                           assign(fallback.content_type, media_type(v, vp));
                         }},
                    });
  }

  void read_fault(const node& n, const path_t& p, fault_injection& fault) {
    in_.read_fields(
        n, p,
        {
            {"delay",
             [&](const node& v, const path_t& vp) {
               in_.read_fields(v, vp,
                               {
                                   {"percent", [&](const node& pv, const path_t& pp) {
                                      assign(fault.delay_percent, in_.number(pv, pp, 0, 100));
                                    },
                                    true},
                                   {"duration", [&](const node& dv, const path_t& dp) {
                                      assign(fault.delay, in_.positive_duration(dv, dp));
                                    },
                                    true},
                               });
             }},
            {"abort",
             [&](const node& v, const path_t& vp) {
               in_.read_fields(v, vp,
                               {
                                   {"percent", [&](const node& pv, const path_t& pp) {
                                      assign(fault.abort_percent, in_.number(pv, pp, 0, 100));
                                    },
                                    true},
                                   status_code("status", fault.abort_status),
                               });
             }},
        });
  }

  void read_rate_limit(const node& n, const path_t& p, rate_limit_policy& policy) {
    bool burst_written = false;
    std::optional<core::rate> rate;
    in_.read_fields(
        n, p,
        {
            {"name",
             [&](const node& v, const path_t& vp) { assign(policy.name, policy_name(v, vp)); },
             true},
            {"key", [&](const node& v, const path_t& vp) { assign(policy.key, read_key(v, vp)); }},
            {"rate", [&](const node& v, const path_t& vp) { rate = read_rate(v, vp); }, true},
            {"burst",
             [&](const node& v, const path_t& vp) {
               burst_written = true;
               assign(policy.burst, in_.integer(v, vp, 1, max_u32));
             }},
            {"algorithm",
             [&](const node& v, const path_t& vp) {
               assign(policy.algorithm,
                      in_.choice<limit_algorithm>(
                          v, vp,
                          {{"token_bucket", limit_algorithm::token_bucket},
                           {"gcra", limit_algorithm::gcra},
                           {"sliding_window", limit_algorithm::sliding_window}}));
             }},
            {"scope",
             [&](const node& v, const path_t& vp) {
               // `cluster` needs the top-level cluster section: checked in validate.cpp.
               assign(policy.scope,
                      in_.choice<limit_scope>(v, vp, {{"local", limit_scope::local},
                                                      {"cluster", limit_scope::cluster}}));
             }},
            {"max_keys",
             [&](const node& v, const path_t& vp) {
               assign(policy.max_keys, in_.integer(v, vp, 1, max_u32));
             }},
        });
    if (!rate) return;
    policy.rate_per_period = double(rate->count);
    policy.rate_period = rate->per;
    policy.rate_per_second =
        double(rate->count) / std::chrono::duration<double>(rate->per).count();
    if (!burst_written) policy.burst = rate->count;
  }

  std::optional<core::rate> read_rate(const node& v, const path_t& p) {
    auto text = in_.string(v, p, "expected a rate like 100/s, 5/min or 1000/h");
    if (!text) return std::nullopt;
    auto parsed = core::parse_rate(*text);
    if (!parsed.ok()) {
      in_.fail(p, parsed.error);
      return std::nullopt;
    }
    return parsed.value;
  }

  // Sent as an sf-string in RateLimit-Policy: `"per-ip";q=5;w=60`.
  std::optional<std::string> policy_name(const node& v, const path_t& p) {
    auto text = in_.non_empty_string(v, p);
    if (!text) return std::nullopt;
    const bool sendable = std::all_of(text->begin(), text->end(), [](char c) {
      return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
    });
    if (!sendable) {
      in_.fail(p,
               "must be printable ASCII without \" or \\: it is sent in the RateLimit-Policy "
               "header");
      return std::nullopt;
    }
    return text;
  }

  std::optional<limit_key> read_key(const node& v, const path_t& p) {
    constexpr std::string_view expected =
        "expected client_ip, api_key, jwt:<claim>, header:<name>, route or global";
    auto text = in_.string(v, p, expected);
    if (!text) return std::nullopt;
    using kind = limit_key::kind;
    static const std::vector<std::pair<std::string_view, kind>> plain = {
        {"client_ip", kind::client_ip},
        {"api_key", kind::api_key},
        {"route", kind::route},
        {"global", kind::global}};
    for (const auto& [name, source] : plain) {
      if (*text == name) return limit_key{source, ""};
    }
    const std::string_view written = *text;
    if (written.starts_with("jwt:")) {
      const std::string claim(written.substr(4));
      const bool visible = std::all_of(claim.begin(), claim.end(),
                                       [](char c) { return c > 0x20 && c < 0x7f; });
      if (claim.empty() || !visible) {
        in_.fail(p, "expected the claim's name after jwt:, like jwt:sub");
        return std::nullopt;
      }
      return limit_key{kind::jwt_claim, claim};
    }
    if (written.starts_with("header:")) {
      const std::string header(written.substr(7));
      if (!is_token(header)) {
        in_.fail(p, "expected a header name after header:, like header:X-Tenant");
        return std::nullopt;
      }
      return limit_key{kind::header, header};
    }
    std::string message(expected);
    if (auto match = closest_match(written, {"client_ip", "api_key", "route", "global"}))
      message += concat({"; did you mean `", *match, "`?"});
    in_.fail(p, message);
    return std::nullopt;
  }

  void read_route_auth(const node& n, const path_t& p, route_auth& auth) {
    const auto mode = [this](std::string_view key, auth_mode& target) {
      return field{key, [this, target = &target](const node& v, const path_t& vp) {
                     assign(*target, in_.choice<auth_mode>(v, vp,
                                                          {{"required", auth_mode::required},
                                                           {"optional", auth_mode::optional},
                                                           {"off", auth_mode::off}}));
                   }};
    };
    in_.read_fields(
        n, p,
        {
            mode("api_key", auth.api_key),
            mode("jwt", auth.jwt),
            {"scopes",
             [&](const node& v, const path_t& vp) {
               in_.read_list(v, vp, [&](const node& item, const path_t& ip) {
                 assign_push(auth.scopes, scope(item, ip));
               });
             }},
            {"subject_header",
             [&](const node& v, const path_t& vp) {
               assign(auth.subject_header, optional_header_name(v, vp));
             }},
            {"scopes_header",
             [&](const node& v, const path_t& vp) {
               assign(auth.scopes_header, optional_header_name(v, vp));
             }},
        });
  }

  // An OAuth scope token (RFC 6749 §3.3): visible ASCII but `"` and `\`.
  std::optional<std::string> scope(const node& v, const path_t& p) {
    constexpr std::string_view expected = "expected a scope like orders:read (no spaces)";
    auto text = in_.string(v, p, expected);
    if (!text) return std::nullopt;
    const bool valid = !text->empty() && std::all_of(text->begin(), text->end(), [](char c) {
      return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
    });
    if (!valid) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  // --- auth --------------------------------------------------------------------------

  void read_auth(const node& n, const path_t& p, auth_settings& auth) {
    in_.read_fields(n, p,
                    {
                        optional_map("api_keys", auth.api_keys, &schema::read_api_keys),
                        optional_map("jwt", auth.jwt, &schema::read_jwt),
                    });
  }

  void read_api_keys(const node& n, const path_t& p, api_key_settings& keys) {
    in_.read_fields(
        n, p,
        {
            // `redis` needs the cluster section, and then no `db`: checked in validate.cpp.
            {"store",
             [&](const node& v, const path_t& vp) {
               assign(keys.store, in_.choice<key_store_kind>(v, vp,
                                                             {{"sqlite", key_store_kind::sqlite},
                                                              {"redis", key_store_kind::redis}}));
             }},
            {"db",
             [&](const node& v, const path_t& vp) { assign(keys.db, in_.non_empty_string(v, vp)); }},
            {"header",
             [&](const node& v, const path_t& vp) { assign(keys.header, header_name(v, vp)); }},
        });
  }

  void read_jwt(const node& n, const path_t& p, jwt_settings& jwt) {
    in_.read_fields(
        n, p,
        {
            {"issuer",
             [&](const node& v, const path_t& vp) {
               assign(jwt.issuer, in_.non_empty_string(v, vp));
             }},
            {"audiences",
             [&](const node& v, const path_t& vp) {
               in_.read_list(v, vp, [&](const node& item, const path_t& ip) {
                 assign_push(jwt.audiences, in_.non_empty_string(item, ip));
               });
             }},
            {"jwks_file",
             [&](const node& v, const path_t& vp) {
               assign(jwt.jwks_file, in_.non_empty_string(v, vp));
             },
             true},
            {"algorithms",
             [&](const node& v, const path_t& vp) {
               jwt.algorithms.clear();
               in_.read_list(v, vp, [&](const node& item, const path_t& ip) {
                 auto algorithm = in_.choice<jwt_algorithm>(item, ip,
                                                            {{"HS256", jwt_algorithm::hs256},
                                                             {"RS256", jwt_algorithm::rs256},
                                                             {"ES256", jwt_algorithm::es256}});
                 if (algorithm && std::find(jwt.algorithms.begin(), jwt.algorithms.end(),
                                            *algorithm) == jwt.algorithms.end())
                   jwt.algorithms.push_back(*algorithm);
               });
               if (v.IsSequence() && v.size() == 0)
                 in_.fail(vp, "at least one algorithm is required", "");
             }},
            {"leeway", [&](const node& v, const path_t& vp) {
               assign(jwt.leeway, in_.non_negative_duration(v, vp));
             }},
        });
  }

  // --- routes ------------------------------------------------------------------------

  std::optional<std::string> request_path(const node& v, const path_t& p) {
    auto text = in_.string(v, p, "expected a path starting with /");
    if (!text) return std::nullopt;
    if (text->empty() || text->front() != '/') {
      in_.fail(p, "must start with /");
      return std::nullopt;
    }
    if (text->find_first_of(" \t\r\n") != std::string::npos) {
      in_.fail(p, "must not contain spaces: a request target never does");
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::string> host_name(const node& v, const path_t& p) {
    constexpr std::string_view expected =
        "expected a host name without a port, like api.example.com";
    auto text = in_.string(v, p, expected);
    if (text && !is_host_name(*text)) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  // The name, not the value: [A-Za-z_][A-Za-z0-9_]*, as a shell can export it.
  std::optional<std::string> environment_variable(const node& v, const path_t& p,
                                                  std::string_view example) {
    const std::string expected = concat(
        {"expected an environment variable name: letters, digits and _, not starting with a "
         "digit, like ",
         example});
    auto text = in_.string(v, p, expected);
    if (text && !is_environment_variable_name(*text)) {
      in_.fail(p, expected);
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::string> header_name(const node& v, const path_t& p) {
    constexpr std::string_view expected = "expected a header name, like X-Request-Id";
    auto text = in_.string(v, p, expected);
    if (text && !is_token(*text)) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  // A header name, or "" for "do not send this header".
  std::optional<std::string> optional_header_name(const node& v, const path_t& p) {
    if (v.IsScalar() && v.Scalar().empty()) return std::string();
    return header_name(v, p);
  }

  // The Host header of a probe: a host name or address, with or without a port.
  std::optional<std::string> host_header(const node& v, const path_t& p) {
    constexpr std::string_view expected =
        "expected a host name with an optional port, like api.example.com or api.example.com:8080";
    auto text = in_.string(v, p, expected);
    if (text && !is_host_name(*text) && !parse_address(*text, 1).ok()) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  // `type/subtype`, parameters allowed (`text/plain; charset=utf-8`).
  std::optional<std::string> media_type(const node& v, const path_t& p) {
    constexpr std::string_view expected = "expected a media type like application/json";
    auto text = in_.string(v, p, expected);
    if (!text) return std::nullopt;
    const std::string_view essence = std::string_view(*text).substr(0, text->find(';'));
    const auto slash = essence.find('/');
    const bool valid = slash != std::string_view::npos && is_token(essence.substr(0, slash)) &&
                       is_token(essence.substr(slash + 1)) &&
                       std::all_of(text->begin(), text->end(),
                                   [](char c) { return c >= 0x20 && c < 0x7f; });
    if (!valid) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  void read_methods(const node& v, const path_t& p, std::vector<std::string>& methods) {
    in_.read_list(v, p, [&](const node& item, const path_t& ip) {
      constexpr std::string_view expected =
          "expected an HTTP method in upper case, like GET or POST";
      auto method = in_.string(item, ip, expected);
      if (!method) return;
      if (!is_token(*method) ||
          method->find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos) {
        in_.fail(ip, std::string(expected));
        return;
      }
      methods.push_back(*method);
    });
  }

  void read_headers(const node& v, const path_t& p, std::vector<header_match>& headers) {
    auto read_one = [&](const std::string& header, const node& value_node, const path_t& hp) {
      if (!is_token(header)) {
        in_.fail(hp, "expected a header name: letters, digits and !#$%&'*+-.^_`|~", header);
        return;
      }
      auto value = in_.string(value_node, hp, "expected the header's exact value as a string");
      if (value && value->find_first_of("\r\n") != std::string::npos) {
        in_.fail(hp, "a header value cannot contain a line break", "");
        return;
      }
      if (value) headers.push_back(header_match{header, *value});
    };
    in_.read_entries(v, p, "expected a map of header name to value", read_one);
  }

  yaml_reader& in_;
};

std::string read_whole_file(std::ifstream& file) {
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// YAML documents of the text, or the syntax error as the only error.
std::optional<std::vector<YAML::Node>> parse_yaml(std::string_view text,
                                                  const std::string& file_name,
                                                  std::vector<error>& errors) {
  try {
    return YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    errors.push_back(error{file_name, std::max(e.mark.line, 0) + 1, std::max(e.mark.column, 0) + 1,
                           "", "invalid YAML: " + e.msg, ""});
    return std::nullopt;
  }
}

}  // namespace

std::string error::to_string() const {
  std::string text = file;
  if (line > 0) text += concat({":", std::to_string(line), ":", std::to_string(column)});
  text += ": ";
  if (!path.empty()) text += concat({path, ": "});
  text += message;
  if (!value.empty()) text += concat({" (got ", value, ")"});
  return text;
}

load_result load_string(std::string_view yaml, const std::string& file_name) {
  load_result result;
  auto documents = parse_yaml(yaml, file_name, result.errors);
  if (!documents) return result;

  yaml_reader in(file_name, not_supported_yet);
  const YAML::Node root = documents->empty() ? YAML::Node() : documents->front();
  in.start(root);
  if (documents->size() > 1) {
    in.fail_at((*documents)[1], "",
               "expected one YAML document; remove the `---` and what follows it");
  }
  auto config = std::make_shared<gateway_config>();
  config->source_file = file_name;
  if (root.IsMap()) {
    schema(in).read(root, *config);
    validate(*config, in);
  } else {
    in.fail("",
            concat({root.IsNull() ? "the file is empty; " : "",
                    "expected a map with listeners, upstreams and routes"}),
            describe(root));
  }
  result.errors = in.take_errors();
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

load_result load_file(const std::string& path) {
  std::error_code ec;
  const bool directory = std::filesystem::is_directory(path, ec);
  std::ifstream file(path, std::ios::binary);
  if (directory || !file) {
    load_result result;
    const std::string reason = directory ? "it is a directory" : std::strerror(errno);
    result.errors.push_back(error{path, 0, 0, "", "cannot read the file: " + reason, ""});
    return result;
  }
  return load_string(read_whole_file(file), path);
}

}  // namespace bulwark::config
