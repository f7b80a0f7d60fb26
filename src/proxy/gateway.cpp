#include "proxy/gateway.h"

#include <fstream>
#include <future>
#include <sstream>

#include "observe/log.h"
#include "policy/auth/credentials.h"
#include "proxy/acceptor.h"
#include "proxy/endpoint_health.h"
#include "proxy/health_checker.h"
#include "proxy/pipeline.h"
#include "proxy/worker.h"

namespace bulwark::proxy {
namespace {

using observe::log;
using observe::log_level;

std::string fnv1a_hex(std::string_view bytes) {
  uint64_t hash = 14695981039346656037ull;
  for (const unsigned char c : bytes) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

std::optional<std::vector<std::vector<tcp::endpoint>>> resolve_upstreams(
    const config::gateway_config& config, std::vector<std::string>& problems) {
  net::io_context io;
  tcp::resolver resolver(io);
  std::vector<std::vector<tcp::endpoint>> resolved;
  for (const auto& upstream : config.upstreams) {
    auto& endpoints = resolved.emplace_back();
    for (const auto& address : upstream.endpoints) {
      error_code ec;
      const auto results = resolver.resolve(address.host, std::to_string(address.port),
                                            tcp::resolver::numeric_service, ec);
      if (ec || results.empty()) {
        problems.push_back("upstreams." + upstream.name + ": cannot resolve " + address.text() +
                           ": " + ec.message());
        return std::nullopt;
      }
      endpoints.push_back(results.begin()->endpoint());
    }
  }
  return resolved;
}

observe::access_log::options access_log_options(const config::gateway_config& config) {
  using to = config::access_log_settings::destination;
  const auto& settings = config.observe.access_log;
  observe::access_log::options options;
  options.to = settings.to == to::off    ? observe::access_log::destination::off
               : settings.to == to::file ? observe::access_log::destination::file
                                         : observe::access_log::destination::stdout_stream;
  options.path = settings.path;
  return options;
}

bool same_access_log(const config::gateway_config& a, const config::gateway_config& b) {
  return a.observe.access_log.to == b.observe.access_log.to &&
         a.observe.access_log.path == b.observe.access_log.path;
}

int breaker_gauge_value(core::breaker_state state) {
  switch (state) {
    case core::breaker_state::open:
    case core::breaker_state::forced_open:
      return 1;
    case core::breaker_state::half_open:
      return 2;
    case core::breaker_state::closed:
    case core::breaker_state::forced_closed:
      break;
  }
  return 0;
}

nlohmann::json breaker_status(const core::circuit_breaker& breaker, core::time_point now) {
  const auto totals = breaker.totals(now);
  return {{"state", std::string(core::to_string(breaker.state()))},
          {"calls_in_window", totals.calls},
          {"failure_rate", totals.failure_rate()},
          {"slow_call_rate", totals.slow_call_rate()},
          {"open_for_ms",
           std::chrono::duration_cast<std::chrono::milliseconds>(breaker.time_left_open(now))
               .count()}};
}

// Per endpoint: its address and, with health checks or outlier detection, its health.
nlohmann::json endpoints_status(const config::upstream& upstream,
                                const upstream_resilience& shared, core::time_point now) {
  auto health = shared.health ? shared.health->status(now) : nlohmann::json::array();
  nlohmann::json endpoints = nlohmann::json::array();
  for (std::size_t i = 0; i < upstream.endpoints.size(); ++i) {
    nlohmann::json entry = i < health.size() ? health[i] : nlohmann::json::object();
    entry["address"] = upstream.endpoints[i].text();
    endpoints.push_back(std::move(entry));
  }
  return endpoints;
}

}  // namespace

loaded_config load_config(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return {config::load_file(path), {}};  // the loader words the error
  std::ostringstream text;
  text << file.rdbuf();
  return {config::load_string(text.str(), path), fnv1a_hex(text.str())};
}

gateway::gateway(std::string config_path, core::duration drain_timeout)
    : config_path_(std::move(config_path)),
      drain_timeout_(drain_timeout),
      started_at_(steady_now()) {}

gateway::~gateway() {
  workers_.clear();  // joins the threads before the listener states go
}

bool gateway::start(const loaded_config& loaded) {
  const auto& config = *loaded.result.config;
  const std::size_t count =
      config.workers != 0 ? config.workers : std::max(1u, std::thread::hardware_concurrency());
  try {
    access_log_ = std::make_unique<observe::access_log>(access_log_options(config), count);
  } catch (const std::system_error& failure) {
    log(log_level::error, "cannot open the access log", {{"error", failure.what()}});
    return false;
  }
  for (std::size_t i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<worker>(i, *access_log_));
  }
  registry_ = std::make_unique<observe::metrics_registry>(count);
  metrics_ = std::make_unique<observe::gateway_metrics>(*registry_, BULWARK_VERSION);
  std::vector<std::string> problems;
  if (!apply(loaded.result.config, loaded.hash, problems)) {
    for (const auto& problem : problems) log(log_level::error, "cannot start", {{"error", problem}});
    return false;
  }
  for (auto& w : workers_) w->start();
  running_ = true;
  return true;
}

reload_result gateway::reload() {
  reload_result result;
  auto loaded = load_config(config_path_);
  if (!loaded.result.ok()) {
    for (const auto& error : loaded.result.errors) result.problems.push_back(error.to_string());
  } else {
    result.ok = apply(loaded.result.config, loaded.hash, result.problems);
  }
  result.hash = hash_;
  metrics_->count_reload(result.ok ? observe::reload_result::success
                                   : observe::reload_result::failure);
  if (result.ok) {
    log(log_level::info, "configuration reloaded", {{"hash", hash_}});
  } else {
    for (const auto& problem : result.problems) {
      log(log_level::error, "reload rejected; the running configuration stays", {{"error", problem}});
    }
  }
  return result;
}

bool gateway::bind_new_listeners(const config::gateway_config& next,
                                 std::map<std::string, opened_listener>& opened,
                                 std::vector<std::string>& problems) {
  for (const auto& listener : next.listeners) {
    const auto current = listeners_.find(listener.name);
    if (current != listeners_.end() && current->second.configured == listener.bind) {
      continue;  // stays bound as it is
    }
    error_code ec;
    const auto address = net::ip::make_address(listener.bind.host, ec);
    if (ec) {
      problems.push_back("listeners." + listener.name + ": " + listener.bind.host +
                         " is not an IP address");
      return false;
    }
    opened_listener fresh{{std::make_shared<listener_state>(listener), listener.bind,
                           tcp::endpoint(address, listener.bind.port)},
                          {}};
    const auto settings = std::make_shared<const config::listener>(listener);
    for (auto& w : workers_) {
      auto acceptor = bind_acceptor(w->io(), fresh.bound.endpoint, port_sharing::reuse_port, ec);
      if (!acceptor) {
        problems.push_back("listeners." + listener.name + ": cannot bind " +
                           endpoint_text(fresh.bound.endpoint) + ": " + ec.message());
        return false;  // what was bound so far closes with `opened`
      }
      // The first bind fixes the port (the OS picks one for port 0); the
      // other workers bind the same one.
      fresh.bound.endpoint.port(acceptor->local_endpoint().port());
      fresh.bindings.push_back(std::make_shared<listener_binding>(listener_binding{
          fresh.bound.state, settings, std::move(*acceptor), metrics_->for_listener(listener.name)}));
    }
    opened.emplace(listener.name, std::move(fresh));
  }
  return true;
}

bool gateway::apply(std::shared_ptr<const config::gateway_config> next, std::string hash,
                    std::vector<std::string>& problems) {
  const auto endpoints = resolve_upstreams(*next, problems);
  if (!endpoints) return false;
  auto states = carried_.next();
  phase_build_context build{metrics_.get(), states, problems};
  const auto phases = std::make_shared<const pipeline>(next, build);
  if (!problems.empty()) return false;
  std::map<std::string, opened_listener> opened;
  if (!bind_new_listeners(*next, opened, problems)) return false;

  auto redis_password = cluster_password(*next, problems);
  if (!redis_password) return false;

  // Nothing can fail from here on: commit.
  carried_.commit(std::move(states));
  phases_ = phases;
  update_cluster(*next, std::move(*redis_password), std::move(build.lease_pools));
  update_health_checks(*endpoints);
  std::vector<std::future<void>> installed;
  for (auto& w : workers_) installed.push_back(w->install(phases, *endpoints));
  // A reload answers once every running worker uses the new snapshot, so the
  // very next request follows the new routes (not before start(): the workers'
  // threads do not run yet). Bounded: a stuck worker must not stall the admin.
  if (running_) {
    for (auto& done : installed) done.wait_for(std::chrono::seconds(2));
  }
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    const auto& name = it->first;
    const auto kept = std::find_if(next->listeners.begin(), next->listeners.end(),
                                   [&](const config::listener& l) { return l.name == name; });
    if (kept == next->listeners.end() || opened.contains(name)) {
      for (auto& w : workers_) w->close_listener(name);
      log(log_level::info, "listener closed", {{"listener", name}});
      it = listeners_.erase(it);
      continue;
    }
    it->second.state->set_limits(kept->limits);
    const auto settings = std::make_shared<const config::listener>(*kept);
    for (auto& w : workers_) w->update_listener(name, settings);
    ++it;
  }
  for (auto& [name, fresh] : opened) {
    for (std::size_t i = 0; i < workers_.size(); ++i) workers_[i]->open_listener(fresh.bindings[i]);
    log(log_level::info, "listening",
        {{"listener", name}, {"address", endpoint_text(fresh.bound.endpoint)}});
    listeners_.emplace(name, std::move(fresh.bound));
  }
  if (config_ && !same_access_log(*config_, *next)) {
    log(log_level::warn, "observability.access_log changes apply at the next start");
  }
  if (config_ && (config_->admin_server.bind != next->admin_server.bind ||
                  config_->admin_server.token_env != next->admin_server.token_env)) {
    log(log_level::warn, "admin changes apply at the next start");
  }
  config_ = std::move(next);
  hash_ = std::move(hash);
  return true;
}

// The Redis password from the environment variable cluster.redis.password_env
// names (never from the file); nullopt, with a problem, when it is unset.
std::optional<std::string> gateway::cluster_password(const config::gateway_config& next,
                                                     std::vector<std::string>& problems) {
  if (!next.cluster || next.cluster->redis.password_env.empty()) return std::string();
  const char* value = std::getenv(next.cluster->redis.password_env.c_str());
  if (value == nullptr || *value == '\0') {
    problems.push_back("cluster.redis.password_env: the variable " + next.cluster->redis.password_env +
                       " is unset or empty");
    return std::nullopt;
  }
  return std::string(value);
}

// Starts, restarts (new settings) or stops the cluster node, and gives it the
// cluster-scope policies of the snapshot just built. The node learns its
// policies before it starts, so its first heartbeat sets their shares.
void gateway::update_cluster(const config::gateway_config& next, std::string password,
                             std::vector<std::shared_ptr<core::lease_pool>> pools) {
  if (cluster_ && (!next.cluster || cluster_->settings() != *next.cluster)) {
    cluster_->stop();
    cluster_.reset();
  }
  if (!next.cluster) return;
  if (cluster_) {
    cluster_->track(std::move(pools));
    return;
  }
  if (!cluster_metrics_ && registry_) cluster_metrics_ = std::make_unique<cluster::cluster_metrics>(*registry_);
  cluster_ = std::make_unique<cluster::cluster_node>(*next.cluster, std::move(password), cluster_metrics_.get());
  cluster_->track(std::move(pools));
  cluster_->start();
  log(log_level::info, "cluster mode",
      {{"redis", next.cluster->redis.endpoint.text()}, {"instance", cluster_->instance_id()},
       {"redis_up", cluster_->redis_up()}});
}

// Probes every endpoint of upstreams with a health_check. Endpoint health
// objects carried over by a reload keep their probe loops (health_checker).
void gateway::update_health_checks(const std::vector<std::vector<tcp::endpoint>>& endpoints) {
  std::vector<health_target> targets;
  const auto& upstreams = phases_->config().upstreams;
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    const auto& shared = phases_->upstream_policies(i);
    if (!upstreams[i].health_check || !shared.health) continue;
    targets.push_back({upstreams[i].name, endpoints[i], *upstreams[i].health_check, shared.health});
  }
  if (targets.empty() && !health_checker_) return;
  if (!health_checker_) health_checker_ = std::make_unique<health_checker>();
  health_checker_->update(std::move(targets));
}

void gateway::begin_drain() {
  draining_ = true;
  for (auto& w : workers_) w->drain();
}

bool gateway::drained() const {
  for (const auto& w : workers_) {
    if (w->active_sessions() > 0) return false;
  }
  return true;
}

void gateway::stop() {
  if (!drained()) log(log_level::warn, "drain timeout passed; closing the remaining connections");
  if (health_checker_) health_checker_->stop();
  workers_.clear();
  if (cluster_) cluster_->stop();  // gives back what its leases hold
  if (access_log_) access_log_->stop();  // flushes every line written so far
  running_ = false;
}

void gateway::reopen_access_log() {
  if (access_log_) access_log_->reopen();
}

std::string gateway::metrics_text() const {
  if (phases_ && metrics_) {
    const auto now = steady_now();
    const auto& upstreams = phases_->config().upstreams;
    for (std::size_t i = 0; i < upstreams.size(); ++i) {
      const auto& shared = phases_->upstream_policies(i);
      observe::upstream_state_sample sample;
      if (shared.breaker) sample.breaker_state = breaker_gauge_value(shared.breaker->state());
      if (shared.concurrency) {
        sample.concurrency_limit = shared.concurrency->limit();
        sample.inflight = shared.concurrency->inflight();
      }
      if (shared.health) sample.usable_endpoints = shared.health->usable_count(now);
      metrics_->sample_upstream(upstreams[i].name, sample);
    }
  }
  if (metrics_ && access_log_) metrics_->sample_access_log_dropped(access_log_->dropped());
  return registry_->prometheus_text();
}

std::vector<std::string> gateway::not_ready_reasons() const {
  std::vector<std::string> reasons;
  if (draining()) {
    reasons.push_back("draining");
  } else if (!running_.load(std::memory_order_relaxed)) {
    reasons.push_back("starting");
  }
  if (!phases_) return reasons;
  const auto now = steady_now();
  for (const auto& route : phases_->config().routes) {
    const auto& health = phases_->upstream_policies(route.upstream_index).health;
    if (health && health->usable_count(now) == 0) {
      reasons.push_back("route " + route.name + ": upstream " + route.upstream +
                        " has no healthy endpoint");
    }
  }
  return reasons;
}

namespace {

// `api_keys` in /admin/status: where the keys come from and whether what the
// gateway verifies against is current. `stale`: the store could not be read
// at the last poll (Redis down), so keys are checked against the snapshot
// read before `since`; `store_lost`: the store came back empty and the
// snapshot was kept (store/api_key_watcher.h).
nlohmann::json api_keys_status(const config::gateway_config& config) {
  using nlohmann::json;
  if (!config.auth.api_keys) return nullptr;
  const auto source = policy::auth::find_api_key_source(policy::auth::key_store_name(config));
  if (!source || !source->store()) return nullptr;
  const auto watched = source->status();
  const auto time_or_null = [](const std::optional<store::wall_time>& t) -> json {
    return t ? json(store::format_time(*t)) : json(nullptr);
  };
  return {{"store", source->store()->kind()},
          {"location", source->store()->location()},
          {"keys", source->cache()->size()},
          {"stale", watched.stale},
          {"since", time_or_null(watched.stale_since)},
          {"error", watched.error.empty() ? json(nullptr) : json(watched.error)},
          {"store_lost", watched.store_lost},
          {"last_refresh", time_or_null(watched.last_refresh)}};
}

}  // namespace

nlohmann::json gateway::status() const {
  using nlohmann::json;
  json listeners = json::array();
  for (const auto& [name, bound] : listeners_) {
    listeners.push_back({{"name", name},
                         {"address", endpoint_text(bound.endpoint)},
                         {"active_connections", bound.state->active()},
                         {"max_connections", bound.state->max_connections()},
                         {"shedding", bound.state->shedding()}});
  }
  std::map<std::string, pool_stats> pools;
  for (const auto& w : workers_) {
    for (const auto& [name, stats] : w->pool_usage()) {
      auto& total = pools[name];
      total.open += stats.open;
      total.idle += stats.idle;
      total.pending += stats.pending;
    }
  }
  json upstreams = json::array();
  const auto now = steady_now();
  for (std::size_t i = 0; i < config_->upstreams.size(); ++i) {
    const auto& upstream = config_->upstreams[i];
    const auto& shared = phases_->upstream_policies(i);
    const auto& pool = pools[upstream.name];
    json entry = {{"name", upstream.name},
                  {"endpoints", endpoints_status(upstream, shared, now)},
                  {"pool", {{"open", pool.open},
                            {"idle", pool.idle},
                            {"in_use", pool.open - pool.idle},
                            {"pending", pool.pending},
                            {"max_connections_per_worker", upstream.pool.max_connections}}}};
    if (shared.breaker) entry["circuit_breaker"] = breaker_status(*shared.breaker, now);
    if (shared.concurrency) {
      entry["concurrency"] = {{"limit", shared.concurrency->limit()},
                              {"inflight", shared.concurrency->inflight()}};
    }
    upstreams.push_back(std::move(entry));
  }
  json routes = json::array();
  for (const auto& route : config_->routes) {
    routes.push_back({{"name", route.name}, {"upstream", route.upstream}});
  }
  return {{"version", BULWARK_VERSION},
          {"uptime_seconds",
           std::chrono::duration_cast<std::chrono::seconds>(steady_now() - started_at_).count()},
          {"config_file", config_path_},
          {"config_hash", hash_},
          {"workers", workers_.size()},
          {"draining", draining()},
          {"listeners", listeners},
          {"upstreams", upstreams},
          {"routes", routes},
          {"cluster", cluster_ ? cluster_->status() : json(nullptr)},
          {"api_keys", api_keys_status(*config_)}};
}

}  // namespace bulwark::proxy
