#include "cluster/cluster_node.h"

#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <algorithm>
#include <cmath>
#include <future>
#include <random>

#include "cluster/lease_scripts.h"
#include "observe/log.h"

namespace bulwark::cluster {
namespace {

namespace net = boost::asio;
using observe::log;
using observe::log_level;

// Entries per script call: a hot policy's keys go in a few calls rather than
// one that holds Redis for long.
constexpr std::size_t max_entries_per_call = 256;
// The even part of a share (share_of).
constexpr double even_part = 0.2;
// A member counts as gone after this many missed beats.
constexpr int beats_to_live = 3;
// A cell without demand rests after this long.
constexpr core::duration rest_after = std::chrono::milliseconds(500);

std::string make_instance_id() {
  char host[64] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device random;
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", random());
  return std::string(host) + "-" + std::to_string(::getpid()) + "-" + suffix;
}

std::int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

core::lease_mode degraded_mode(config::redis_down_policy policy) {
  switch (policy) {
    case config::redis_down_policy::local:
      return core::lease_mode::local;
    case config::redis_down_policy::allow:
      return core::lease_mode::allow;
    case config::redis_down_policy::deny:
      return core::lease_mode::deny;
  }
  return core::lease_mode::local;
}

std::string_view mode_name(core::lease_mode mode) {
  switch (mode) {
    case core::lease_mode::shared:
      return "shared";
    case core::lease_mode::local:
      return "local";
    case core::lease_mode::allow:
      return "allow";
    case core::lease_mode::deny:
      return "deny";
  }
  return "shared";
}

redis_options options_of(const config::redis_settings& redis, std::string password) {
  redis_options options;
  options.host = redis.endpoint.host;
  options.port = redis.endpoint.port;
  options.password = std::move(password);
  options.db = redis.db;
  options.timeout = redis.timeout;
  return options;
}

double rate_per_second(const core::rate_limit_spec& spec) {
  return static_cast<double>(spec.count) * 1e9 / static_cast<double>(spec.per.count());
}

// The lease script's arguments before the per-key triples.
std::vector<std::string> script_head(const core::lease_pool& pool) {
  const auto& spec = pool.spec();
  if (pool.algorithm() == core::shared_algorithm::sliding_window) {
    return {std::to_string(spec.count), std::to_string(spec.per.count() / 1000)};
  }
  char rate[32];
  std::snprintf(rate, sizeof rate, "%.9g", rate_per_second(spec));
  return {rate, std::to_string(spec.burst)};
}

}  // namespace

double share_of(double own_demand, const std::vector<double>& demands) {
  if (demands.empty()) return 1.0;
  const auto live = static_cast<double>(demands.size());
  double total = 0;
  for (double d : demands) total += std::max(0.0, d);
  if (total <= 0) return 1.0 / live;
  return even_part / live + (1 - even_part) * std::max(0.0, own_demand) / total;
}

cluster_node::cluster_node(config::cluster_settings settings, std::string password,
                           const cluster_metrics* metrics)
    : settings_(std::move(settings)),
      instance_id_(make_instance_id()),
      metrics_(metrics),
      lease_settings_{2, static_cast<unsigned>(std::max<std::int64_t>(
                             5, (rest_after + settings_.sync_interval - core::duration{1}) /
                                    settings_.sync_interval))},
      redis_(io_, options_of(settings_.redis, std::move(password))) {}

cluster_node::~cluster_node() { stop(); }

void cluster_node::start() {
  redis_.on_connected = [this](const std::string& run_id) {
    if (!run_id_.empty() && run_id != run_id_) {
      restarts_seen_.fetch_add(1, std::memory_order_relaxed);
      log(log_level::warn, "redis restarted: shared limits start again from full buckets",
          {{"address", settings_.redis.endpoint.text()}});
    }
    run_id_ = run_id;
    net::co_spawn(io_, [this]() -> net::awaitable<void> {
      if (co_await heartbeat()) enter_shared();
    }, net::detached);
  };
  redis_.on_lost = [this](std::string_view reason) { enter_degraded(reason); };
  // Until Redis has answered, the limits follow on_redis_down.
  mode_ = degraded_mode(settings_.on_redis_down);
  degraded_.store(true, std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->set_degraded(true);
  redis_.start();
  net::co_spawn(io_, sync_loop(), net::detached);
  net::co_spawn(io_, heartbeat_loop(), net::detached);
  thread_ = std::thread([this] { io_.run(); });
  // The first heartbeat tells how many instances share each limit; traffic
  // that came before it would be served as if this instance were alone.
  const auto until = std::chrono::steady_clock::now() + 4 * settings_.redis.timeout +
                     std::chrono::milliseconds(100);
  while (!redis_up() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void cluster_node::stop() {
  if (stopped_ || !thread_.joinable()) return;
  stopped_ = true;
  // Give back what the leases hold and leave, each step bounded by the Redis
  // timeout; then end the thread.
  auto done = net::co_spawn(
      io_,
      [this]() -> net::awaitable<void> {
        // A copy: the sync loop may erase from pools_ while this waits.
        const auto pools = pools_;
        for (const auto& pool : pools) pool->retired = true;
        for (const auto& pool : pools) {
          if (!pool->busy) co_await sync_pool(pool, true);
        }
        co_await leave();
      },
      net::use_future);
  done.wait_for(std::chrono::seconds(2));
  redis_.stop();
  io_.stop();
  thread_.join();
  // Cells still listed are let go with their pools (lease_pool's destructor).
  for (auto& pool : pools_) {
    for (auto& tracked : pool->cells) pool->pool->unlist(*tracked.cell);
  }
  pools_.clear();
}

void cluster_node::track(std::vector<std::shared_ptr<core::lease_pool>> pools) {
  for (auto& pool : pools) pool->set_sync_interval(settings_.sync_interval);
  net::post(io_, [this, pools = std::move(pools)]() mutable {
    for (auto& tracked : pools_) {
      tracked->retired = std::none_of(pools.begin(), pools.end(),
                                      [&](const auto& p) { return p == tracked->pool; });
    }
    for (auto& pool : pools) {
      const bool known = std::any_of(pools_.begin(), pools_.end(),
                                     [&](const auto& t) { return t->pool == pool; });
      if (known) continue;
      pool->set_mode(mode_);
      auto tracked = std::make_shared<tracked_pool>();
      tracked->pool = pool;
      tracked->prefix = policy_prefix(*pool);
      pools_.push_back(std::move(tracked));
    }
  });
}

net::awaitable<void> cluster_node::sync_loop() {
  net::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(settings_.sync_interval);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return;
    for (auto& pool : pools_) {
      if (pool->busy) continue;  // a slow Redis: this policy skips a beat
      pool->busy = true;
      net::co_spawn(io_, sync_pool(pool, pool->retired), net::detached);
    }
    std::erase_if(pools_, [](const auto& pool) { return pool->retired && !pool->busy && pool->cells.empty(); });
    publish_listed();
  }
}

void cluster_node::adopt_listed(tracked_pool& pool) {
  const std::int64_t now = steady_us();
  for (core::leased_bucket* cell = pool.pool->take_listed(); cell != nullptr;) {
    core::leased_bucket* next = cell->next_listed();
    auto& tracked = pool.cells.emplace_back(tracked_cell{cell, core::lease_ledger(*cell)});
    tracked.ledger.local_bucket() = {0, now};
    cell = next;
  }
}

net::awaitable<void> cluster_node::sync_pool(std::shared_ptr<tracked_pool> pool, bool closing) {
  pool->busy = true;
  adopt_listed(*pool);
  core::lease_settings settings = lease_settings_;
  settings.closing = closing;  // everything goes back now

  const auto& spec = pool->pool->spec();
  const double share = pool->pool->share();
  const std::int64_t now = steady_us();
  std::vector<std::size_t> entries;
  std::vector<core::lease_request> requests;
  for (std::size_t i = 0; i < pool->cells.size(); ++i) {
    auto& tracked = pool->cells[i];
    const auto request = tracked.ledger.plan(*tracked.cell, settings);
    pool->demand_since_beat += request.demand;
    switch (mode_) {
      case core::lease_mode::shared:
        if (!request.empty()) {
          entries.push_back(i);
          requests.push_back(request);
        }
        break;
      case core::lease_mode::local: {
        // This instance's share of the limit, kept here until Redis is back.
        const auto answer = core::apply_lease(tracked.ledger.local_bucket(), now, request,
                                              rate_per_second(spec) * share,
                                              std::max(1.0, static_cast<double>(spec.burst) * share));
        tracked.ledger.granted(*tracked.cell, answer.granted, answer.tokens_left);
        break;
      }
      case core::lease_mode::allow:
      case core::lease_mode::deny:
        break;
    }
  }
  if (!entries.empty()) co_await send_leases(*pool, std::move(entries), std::move(requests));
  std::erase_if(pool->cells, [&](tracked_cell& tracked) {
    if (!tracked.ledger.resting()) return false;
    tracked.ledger.rest(*tracked.cell);
    pool->pool->unlist(*tracked.cell);
    return true;
  });
  pool->busy = false;
}

net::awaitable<void> cluster_node::send_leases(tracked_pool& pool, std::vector<std::size_t> entries,
                                               std::vector<core::lease_request> requests) {
  // The calls of one sync go out together: the connection pipelines them, so
  // a policy with many keys in use costs one round trip per sync, not one per
  // call (a sync that overran its interval would skip the next).
  using batch_op = decltype(net::co_spawn(io_, std::declval<net::awaitable<void>>(), net::deferred));
  std::vector<batch_op> batches;
  for (std::size_t first = 0; first < entries.size(); first += max_entries_per_call) {
    const std::size_t last = std::min(entries.size(), first + max_entries_per_call);
    batches.push_back(net::co_spawn(io_, send_lease_batch(pool, entries, requests, first, last), net::deferred));
  }
  co_await net::experimental::make_parallel_group(std::move(batches))
      .async_wait(net::experimental::wait_for_all(), net::use_awaitable);
}

net::awaitable<void> cluster_node::send_lease_batch(tracked_pool& pool, const std::vector<std::size_t>& entries,
                                                    const std::vector<core::lease_request>& requests,
                                                    std::size_t first, std::size_t last) {
  const auto& script = pool.pool->algorithm() == core::shared_algorithm::sliding_window
                           ? sliding_window_lease_script()
                           : token_bucket_lease_script();
  const auto& pins = pool.pool->pins();
  const std::string& name = pool.pool->name();
  std::vector<std::string> keys;
  std::vector<std::string> args = script_head(*pool.pool);
  keys.reserve(last - first);
  args.reserve(args.size() + 3 * (last - first));
  for (std::size_t k = first; k < last; ++k) {
    keys.push_back(bucket_key(pool.prefix, pins.key(pool.cells[entries[k]].cell->pin())));
    args.push_back(std::to_string(requests[k].debt));
    args.push_back(std::to_string(requests[k].want));
    args.push_back(std::to_string(requests[k].give_back));
  }
  const auto started = std::chrono::steady_clock::now();
  const auto result = co_await redis_.eval(script, std::move(keys), std::move(args));
  if (metrics_ != nullptr) metrics_->redis_command();
  if (!result.ok() || result.reply.type != redis_reply::kind::array ||
      result.reply.elements.size() != last - first) {
    if (metrics_ != nullptr) metrics_->lease_failure(name);
    if (result.error == redis_errc::server) {
      log(log_level::error, "lease script failed", {{"policy", name}, {"error", result.reply.text}});
    } else {
      enter_degraded(result.ok() ? "unexpected lease reply" : to_string(*result.error));
    }
    co_return;
  }
  if (metrics_ != nullptr) {
    metrics_->lease_call(name, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
  for (std::size_t k = first; k < last; ++k) {
    const auto& answer = result.reply.elements[k - first];
    if (answer.elements.size() != 2) continue;
    const std::int64_t granted = answer.elements[0].integer;
    const std::int64_t left = answer.elements[1].integer;
    auto& tracked = pool.cells[entries[k]];
    tracked.ledger.granted(*tracked.cell, granted, left);
    if (metrics_ != nullptr) {
      metrics_->tokens(name, token_flow::granted, granted);
      metrics_->tokens(name, token_flow::returned, requests[k].give_back);
      metrics_->tokens(name, token_flow::charged, requests[k].debt);
    }
  }
}

net::awaitable<void> cluster_node::heartbeat_loop() {
  net::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(settings_.heartbeat_interval);
    auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (ec) co_return;
    if (!redis_.connected()) {
      enter_degraded("not connected");
      continue;
    }
    if (co_await heartbeat()) enter_shared();
  }
}

net::awaitable<bool> cluster_node::heartbeat() {
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = last_beat_ == std::chrono::steady_clock::time_point{}
                             ? std::chrono::duration<double>(settings_.heartbeat_interval).count()
                             : std::chrono::duration<double>(now - last_beat_).count();
  last_beat_ = now;
  const auto ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.heartbeat_interval).count() *
                      beats_to_live;
  const auto members = co_await beat(std::string(cluster_members_key), 0, ttl_ms);
  if (!members) {
    enter_degraded("heartbeat failed");
    co_return false;
  }
  instances_.store(members->size(), std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->set_instances(members->size());
  // A copy: track() and the sync loop may change pools_ while a beat waits.
  const auto pools = pools_;
  for (const auto& pool : pools) {
    if (pool->retired) continue;
    pool->demand_per_second = static_cast<double>(pool->demand_since_beat) / std::max(elapsed, 1e-3);
    pool->demand_since_beat = 0;
    const auto demands = co_await beat(members_key(pool->prefix), pool->demand_per_second, ttl_ms);
    if (!demands) {
      enter_degraded("heartbeat failed");
      co_return false;
    }
    pool->pool->set_share(share_of(pool->demand_per_second, *demands));
  }
  co_return true;
}

net::awaitable<std::optional<std::vector<double>>> cluster_node::beat(std::string key, double demand,
                                                                    std::int64_t ttl_ms) {
  // Argument vectors built before the co_await: GCC 12 cannot keep an
  // initializer list's array in a coroutine frame.
  std::vector<std::string> keys;
  keys.push_back(std::move(key));
  std::vector<std::string> args;
  args.push_back(instance_id_);
  args.push_back(std::to_string(demand));
  args.push_back(std::to_string(ttl_ms));
  const auto result = co_await redis_.eval(heartbeat_script(), std::move(keys), std::move(args));
  if (metrics_ != nullptr) metrics_->redis_command();
  if (!result.ok() || result.reply.type != redis_reply::kind::array) co_return std::nullopt;
  std::vector<double> demands;
  for (std::size_t i = 1; i < result.reply.elements.size(); i += 2) {
    demands.push_back(std::strtod(result.reply.elements[i].text.c_str(), nullptr));
  }
  co_return demands;
}

net::awaitable<void> cluster_node::leave() {
  if (!redis_.connected()) co_return;
  std::vector<std::string> hashes{std::string(cluster_members_key)};
  for (auto& pool : pools_) hashes.push_back(members_key(pool->prefix));
  for (auto& hash : hashes) {
    std::vector<std::string> command;
    command.push_back("HDEL");
    command.push_back(std::move(hash));
    command.push_back(instance_id_);
    co_await redis_.command(std::move(command));
  }
}

void cluster_node::set_mode(core::lease_mode mode) {
  const std::int64_t now = steady_us();
  for (auto& pool : pools_) {
    pool->pool->set_mode(mode);
    // The local share starts empty: leaving shared mode never adds a burst.
    for (auto& tracked : pool->cells) tracked.ledger.local_bucket() = {0, now};
  }
  mode_ = mode;
}

void cluster_node::enter_degraded(std::string_view reason) {
  {
    std::lock_guard lock(status_mutex_);
    last_fault_ = reason;
  }
  redis_up_.store(false, std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->set_redis_up(false);
  if (mode_ != core::lease_mode::shared) return;
  set_mode(degraded_mode(settings_.on_redis_down));
  degraded_.store(true, std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->set_degraded(true);
  log(log_level::warn, "redis unreachable: cluster limits follow on_redis_down",
      {{"reason", reason}, {"mode", mode_name(mode_)}});
}

void cluster_node::enter_shared() {
  redis_up_.store(true, std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->set_redis_up(true);
  if (mode_ == core::lease_mode::shared) return;
  set_mode(core::lease_mode::shared);
  degraded_.store(false, std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->set_degraded(false);
  log(log_level::info, "redis reachable: cluster limits shared again",
      {{"instances", static_cast<std::int64_t>(instances_.load())}});
}

void cluster_node::publish_listed() {
  std::size_t cells = 0;
  for (const auto& pool : pools_) cells += pool->cells.size();
  listed_.store(cells, std::memory_order_relaxed);
  if (metrics_ != nullptr) metrics_->set_listed(cells);
}

nlohmann::json cluster_node::status() const {
  nlohmann::json status = {
      {"instance", instance_id_},
      {"redis", {{"address", settings_.redis.endpoint.text()}, {"up", redis_up()}}},
      {"degraded", degraded()},
      {"mode", degraded() ? std::string(mode_name(degraded_mode(settings_.on_redis_down))) : "shared"},
      {"instances", instances()},
      {"keys_active", listed_.load(std::memory_order_relaxed)},
      {"redis_restarts_seen", restarts_seen_.load(std::memory_order_relaxed)},
  };
  std::lock_guard lock(status_mutex_);
  status["last_fault"] = last_fault_.empty() ? nlohmann::json(nullptr) : nlohmann::json(last_fault_);
  return status;
}

}  // namespace bulwark::cluster
