// Cross-field checks; see validate.h.
#include "config/validate.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "config/concat.h"
#include "config/did_you_mean.h"
#include "core/units.h"

namespace bulwark::config {
namespace {

std::string at(std::string_view list, std::size_t index) {
  return concat({list, "[", std::to_string(index), "]"});
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

// Every name of `items` appears once. Empty names were reported when read.
template <class T>
void check_unique_names(const std::vector<T>& items, std::string_view list, std::string_view kind,
                        yaml_reader& in) {
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].name.empty()) continue;
    auto [found, inserted] = first.emplace(items[i].name, i);
    if (!inserted) {
      in.fail(concat({at(list, i), ".name"}),
              concat({"duplicate ", kind, " name; ", at(list, found->second), " has it already"}));
    }
  }
}

void check_addresses(const gateway_config& config, yaml_reader& in) {
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const address& bind = config.listeners[i].bind;
    const std::string path = at("listeners", i) + ".address";
    // Port 0 asks the OS for a free port, so such listeners never collide.
    if (bind.port == 0 || in.failed(path)) continue;
    auto [found, inserted] = first.emplace(bind.text(), i);
    if (!inserted)
      in.fail(path, concat({at("listeners", found->second), " already listens on this address"}));
  }
  const address& admin = config.admin_server.bind;
  auto listener = first.find(admin.text());
  if (admin.port == 0 || listener == first.end() || in.failed("admin.address")) return;
  if (!in.written("admin.address").empty()) {
    in.fail("admin.address",
            concat({at("listeners", listener->second), " already listens on this address"}));
  } else {
    in.fail(concat({at("listeners", listener->second), ".address"}),
            concat({"the admin server listens on this address (admin.address defaults to ",
                    admin.text(), ")"}));
  }
}

void check_pool(upstream& u, const std::string& path, yaml_reader& in) {
  const std::string max_idle = path + ".pool.max_idle";
  const std::string max_connections = path + ".pool.max_connections";
  if (in.failed(max_idle) || in.failed(max_connections)) return;
  if (in.written(max_idle).empty()) {
    // The default (64) adapts to a smaller pool rather than contradict it.
    u.pool.max_idle = std::min(u.pool.max_idle, u.pool.max_connections);
  } else if (u.pool.max_idle > u.pool.max_connections) {
    in.fail(max_idle, concat({"must be at most pool.max_connections (",
                              std::to_string(u.pool.max_connections), ")"}));
  }
}

// min <= initial <= max of an adaptive limit; `initial` defaults to `min`.
template <class Limits>
void check_adaptive_limits(Limits& limits, const std::string& path, yaml_reader& in) {
  const std::string min = path + ".min";
  const std::string max = path + ".max";
  const std::string initial = path + ".initial";
  if (in.failed(min) || in.failed(max) || in.failed(initial)) return;
  if (limits.min_limit > limits.max_limit) {
    if (!in.written(max).empty()) {
      in.fail(max, concat({"must be at least min (", std::to_string(limits.min_limit), ")"}));
    } else {
      in.fail(min, concat({"must be at most max (", std::to_string(limits.max_limit),
                           " by default)"}));
    }
    return;
  }
  if (in.written(initial).empty()) {
    limits.initial_limit = limits.min_limit;
  } else if (limits.initial_limit < limits.min_limit || limits.initial_limit > limits.max_limit) {
    in.fail(initial, concat({"must be from min (", std::to_string(limits.min_limit), ") to max (",
                             std::to_string(limits.max_limit), ")"}));
  }
}

void check_concurrency(upstream& u, const std::string& path, yaml_reader& in) {
  if (!u.concurrency) return;
  const std::string adaptive = path + ".concurrency.adaptive";
  switch (u.concurrency->algorithm) {
    case concurrency_settings::kind::aimd:
      check_adaptive_limits(u.concurrency->aimd, adaptive, in);
      break;
    case concurrency_settings::kind::gradient2:
      check_adaptive_limits(u.concurrency->gradient2, adaptive, in);
      break;
    case concurrency_settings::kind::fixed:
      break;
  }
}

void check_circuit_breaker(upstream& u, const std::string& path, yaml_reader& in) {
  if (!u.circuit_breaker) return;
  const std::string breaker = path + ".circuit_breaker";
  core::circuit_breaker_settings& policy = u.circuit_breaker->policy;
  const bool slow_call = !in.written(breaker + ".slow_call").empty();
  const bool slow_call_rate = !in.written(breaker + ".slow_call_rate").empty();
  if (slow_call && !slow_call_rate) {
    // Measuring slow calls without a written rate: core's default rate.
    policy.slow_call_rate = core::circuit_breaker_settings{}.slow_call_rate;
  } else if (!slow_call && slow_call_rate && !in.failed(breaker + ".slow_call")) {
    in.fail(breaker + ".slow_call_rate",
            "counts calls slower than slow_call, which is not set: set slow_call too");
  }
  if (u.circuit_breaker->failure_on.empty() && !u.circuit_breaker->counts_slow_calls() &&
      !in.failed(breaker + ".failure_on") && !in.failed(breaker + ".slow_call")) {
    in.fail(breaker + ".failure_on",
            "the breaker could never open: list a condition, or set slow_call", "");
  }
  // Core's own rules: the fields above were each checked on their own, so this
  // only reports what relates them (today none can fail; kept so that a rule
  // added in core reaches `bulwark check` rather than a startup exception).
  for (const std::string& problem : policy.validate()) {
    const auto colon = problem.find(": ");
    const auto got = problem.rfind(", got ");
    const std::string field = problem.substr(0, colon);
    const std::string field_path = concat({breaker, ".", field});
    if (in.failed(field_path)) continue;
    const std::size_t start = colon == std::string::npos ? 0 : colon + 2;
    in.fail(field_path, problem.substr(start, got == std::string::npos ? got : got - start));
  }
}

void check_health_check(const upstream& u, const std::string& path, yaml_reader& in) {
  if (!u.health_check) return;
  const std::string timeout = path + ".health_check.timeout";
  const std::string interval = path + ".health_check.interval";
  if (in.failed(timeout) || in.failed(interval)) return;
  if (u.health_check->timeout > u.health_check->interval) {
    // A probe that may outlast the interval would overlap the next one.
    in.fail(timeout, concat({"must be at most interval (",
                             core::format_duration(u.health_check->interval), ")"}));
  }
}

void check_upstream_reference(route& r, const std::string& path,
                              const std::vector<upstream>& upstreams, yaml_reader& in) {
  const bool names_known =
      !in.failed("upstreams") && std::none_of(upstreams.begin(), upstreams.end(),
                                              [](const upstream& u) { return u.name.empty(); });
  if (r.upstream.empty()) return;
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    if (upstreams[i].name == r.upstream) {
      r.upstream_index = i;
      return;
    }
    names.push_back(upstreams[i].name);
  }
  if (!names_known) return;  // an upstream without a valid name may be the one meant
  std::string message = "no upstream has this name";
  if (auto match = closest_match(r.upstream, names))
    message += concat({"; did you mean `", *match, "`?"});
  in.fail(path + ".upstream", message);
}

void check_match(const route_match& match, const std::string& path, yaml_reader& in) {
  if (match.path && match.path_prefix) {
    in.fail(path + ".match.path", "set either path or path_prefix, not both");
  }
  std::map<std::string, std::string> seen;  // lower-case name -> name as written
  for (const header_match& header : match.headers) {
    auto [found, inserted] = seen.emplace(lower(header.name), header.name);
    if (!inserted) {
      in.fail(concat({path, ".match.headers.", header.name}),
              concat({"header names are case-insensitive: this is ", found->second, " again"}));
    }
  }
}

void check_retry(const route& r, const std::string& path, yaml_reader& in) {
  const std::string per_try = path + ".retry.per_try_timeout";
  if (r.retry.per_try_timeout && !in.failed(per_try) && !in.failed(path + ".timeout") &&
      *r.retry.per_try_timeout > r.timeout) {
    in.fail(per_try, concat({"must be at most the route's timeout (",
                             core::format_duration(r.timeout), ")"}));
  }
  const std::string base = path + ".retry.backoff.base";
  const std::string max = path + ".retry.backoff.max";
  if (!in.failed(base) && !in.failed(max) && r.retry.backoff.base > r.retry.backoff.max) {
    if (!in.written(base).empty()) {
      in.fail(base, concat({"must be at most backoff.max (",
                            core::format_duration(r.retry.backoff.max), ")"}));
    } else {
      in.fail(max, concat({"must be at least backoff.base (",
                           core::format_duration(r.retry.backoff.base), " by default)"}));
    }
  }
  const std::string budget = path + ".retry.budget";
  if (r.retry.budget && r.retry.budget->ratio == 0 && r.retry.budget->min_per_s == 0 &&
      !in.failed(budget + ".ratio") && !in.failed(budget + ".min_per_s")) {
    in.fail(budget,
            "ratio and min_per_s are both 0, so no retry could ever be sent; to turn retries "
            "off, set attempts: 1",
            "");
  }
}

// What a route's auth and rate-limit keys need from the top-level `auth`.
void check_route_auth(const route& r, const std::string& path, const auth_settings& auth,
                      yaml_reader& in) {
  const route_auth off;
  const route_auth& ra = r.auth ? *r.auth : off;
  if (in.failed("auth")) return;  // the top-level auth was not read: nothing to compare with
  if (ra.api_key != auth_mode::off && !auth.api_keys && !in.failed("auth.api_keys")) {
    in.fail(path + ".auth.api_key",
            "needs a key store: add auth.api_keys at the top level (auth: {api_keys: {}} takes "
            "the defaults)");
  }
  if (ra.jwt != auth_mode::off && !auth.jwt && !in.failed("auth.jwt")) {
    in.fail(path + ".auth.jwt", "needs auth.jwt at the top level, with its jwks_file");
  }
  if (!ra.scopes.empty() && ra.api_key == auth_mode::off && ra.jwt == auth_mode::off) {
    in.fail(path + ".auth.scopes",
            "need credentials to read scopes from: set api_key or jwt on this route", "");
  }
  for (std::size_t j = 0; j < r.rate_limits.size(); ++j) {
    const limit_key& key = r.rate_limits[j].key;
    const std::string key_path = concat({at(path + ".rate_limits", j), ".key"});
    if (key.source == limit_key::kind::api_key && ra.api_key == auth_mode::off) {
      in.fail(key_path,
              "counts by API key, so the route needs auth: {api_key: required} (or optional)");
    } else if (key.source == limit_key::kind::jwt_claim && ra.jwt == auth_mode::off) {
      in.fail(key_path,
              "counts by a JWT claim, so the route needs auth: {jwt: required} (or optional)");
    }
  }
}

// heartbeat_interval >= 2 x sync_interval. Beats only keep the count of live
// instances (what `local` mode divides a limit by), which changes when an
// instance starts or stops; leases follow demand, which changes all the time.
// The beat is therefore the slower of the two background calls: at the pace
// of the syncs it would double the calls each instance makes to Redis for
// nothing. Twice rather than more, so that a slow sync (say 500ms, to spare
// Redis) still allows a beat of 1s, the default.
constexpr int sync_rounds_per_beat = 2;

void check_cluster(const gateway_config& config, yaml_reader& in) {
  if (!config.cluster) return;
  const std::string sync = "cluster.sync_interval";
  const std::string heartbeat = "cluster.heartbeat_interval";
  const cluster_settings& cluster = *config.cluster;
  if (in.failed(sync) || in.failed(heartbeat) ||
      cluster.heartbeat_interval >= sync_rounds_per_beat * cluster.sync_interval)
    return;
  if (!in.written(heartbeat).empty()) {
    // sync_interval is written too: its default (20ms) fits every heartbeat_interval.
    in.fail(heartbeat, concat({"must be at least twice sync_interval (",
                               core::format_duration(cluster.sync_interval), ")"}));
  } else {
    in.fail(sync, concat({"must be at most half of heartbeat_interval (",
                          core::format_duration(cluster.heartbeat_interval), " by default)"}));
  }
}

// Cluster-scope rate limits share their counts through the cluster's Redis.
void check_rate_limit_scopes(const route& r, const std::string& path, bool cluster,
                             yaml_reader& in) {
  if (cluster) return;
  for (std::size_t j = 0; j < r.rate_limits.size(); ++j) {
    if (r.rate_limits[j].scope == limit_scope::cluster)
      in.fail(concat({at(path + ".rate_limits", j), ".scope"}),
              "scope cluster needs a cluster: section (Redis)");
  }
}

// `store: redis` keeps the keys in the cluster's Redis, so it needs one, and
// an SQLite file beside it would be a second store that nothing reads.
void check_key_store(const gateway_config& config, yaml_reader& in) {
  if (!config.auth.api_keys || config.auth.api_keys->store != key_store_kind::redis) return;
  if (!config.cluster) in.fail("auth.api_keys.store", "store redis needs a cluster: section (Redis)");
  const std::string db = "auth.api_keys.db";
  if (!in.written(db).empty() && !in.failed(db))
    in.fail(db, "db is the SQLite file; store: redis keeps keys in the cluster's Redis");
}

// Relative paths in the file mean "next to the file", as a user who keeps the
// config and its key store together expects whatever the working directory.
void resolve_paths(gateway_config& config) {
  const std::filesystem::path directory =
      std::filesystem::path(config.source_file).parent_path();
  if (directory.empty()) return;  // the working directory is the file's directory
  const auto resolve = [&](std::string& file) {
    if (!file.empty() && std::filesystem::path(file).is_relative())
      file = (directory / file).lexically_normal().string();
  };
  if (config.auth.api_keys) resolve(config.auth.api_keys->db);
  if (config.auth.jwt) resolve(config.auth.jwt->jwks_file);
}

}  // namespace

void validate(gateway_config& config, yaml_reader& in) {
  check_unique_names(config.listeners, "listeners", "listener", in);
  check_unique_names(config.upstreams, "upstreams", "upstream", in);
  check_unique_names(config.routes, "routes", "route", in);
  check_addresses(config, in);
  check_cluster(config, in);
  check_key_store(config, in);
  for (std::size_t i = 0; i < config.upstreams.size(); ++i) {
    upstream& u = config.upstreams[i];
    const std::string path = at("upstreams", i);
    check_pool(u, path, in);
    check_concurrency(u, path, in);
    check_circuit_breaker(u, path, in);
    check_health_check(u, path, in);
  }
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    route& r = config.routes[i];
    const std::string path = at("routes", i);
    check_upstream_reference(r, path, config.upstreams, in);
    check_match(r.match, path, in);
    check_retry(r, path, in);
    check_unique_names(r.rate_limits, path + ".rate_limits", "rate limit", in);
    check_route_auth(r, path, config.auth, in);
    check_rate_limit_scopes(r, path, config.cluster.has_value(), in);
  }
  resolve_paths(config);
}

}  // namespace bulwark::config
