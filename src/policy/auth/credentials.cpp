#include "policy/auth/credentials.h"

#include <map>

#include "observe/log.h"
#include "store/sqlite_key_store.h"

namespace bulwark::policy::auth {
namespace {

// Live key sources by store name. Weak: the registry never keeps a source
// (and its watcher thread) alive; entries whose source is gone are pruned on
// every access. Two sources for one path exist only for a moment (two
// gateways in one test process, say); the admin API refreshes the newest.
struct source_registry {
  std::mutex mutex;
  std::map<std::string, std::vector<std::weak_ptr<api_key_source>>> by_name;

  void prune_locked() {
    for (auto it = by_name.begin(); it != by_name.end();) {
      std::erase_if(it->second, [](const auto& weak) { return weak.expired(); });
      it = it->second.empty() ? by_name.erase(it) : std::next(it);
    }
  }
};

source_registry& registry() {
  static source_registry instance;
  return instance;
}

}  // namespace

store::outcome<std::shared_ptr<store::key_store>> open_sqlite_key_store(const config::gateway_config& config) {
  using result = store::outcome<std::shared_ptr<store::key_store>>;
  const auto& keys = config.auth.api_keys;
  if (!keys) return result::failure(store::store_errc::invalid_argument, "the configuration has no auth.api_keys");
  if (keys->store != config::key_store_kind::sqlite) {
    return result::failure(store::store_errc::invalid_argument, "only the SQLite key store can be opened here");
  }
  auto opened = store::sqlite_key_store::open(keys->db);
  if (!opened.ok()) return result::failure(opened.error);
  return result::success(std::move(*opened.value));
}

std::string key_store_name(const config::gateway_config& config) {
  const auto& keys = config.auth.api_keys;
  if (!keys) return {};
  if (keys->store == config::key_store_kind::sqlite || !config.cluster) return keys->db;
  const auto& redis = config.cluster->redis;
  return "redis://" + redis.endpoint.text() + "/" + std::to_string(redis.db);
}

api_key_source::api_key_source(std::shared_ptr<store::api_key_cache> cache)
    : cache_(std::move(cache)) {}

api_key_source::~api_key_source() {
  // Stops the thread and writes the last recorded uses before the cache goes.
  watcher_.reset();
}

store::watcher_status api_key_source::status() const {
  return watcher_ ? watcher_->status() : store::watcher_status{};
}

api_key_source::open_result api_key_source::open(std::shared_ptr<store::key_store> key_store, std::string name,
                                                 bool watch) {
  auto cache = std::make_shared<store::api_key_cache>(std::move(key_store));
  // Loaded once here, so the first request after start or reload already sees
  // every key; from then on the watcher refreshes in the background.
  if (auto loaded = cache->refresh(); !loaded.ok()) return {nullptr, loaded.error.message};
  auto source = std::make_shared<api_key_source>(cache);
  source->name_ = name;
  if (watch) {
    source->watcher_ = std::make_unique<store::api_key_watcher>(cache);
    source->watcher_->start();
  }
  auto& shared = registry();
  std::lock_guard lock(shared.mutex);
  shared.prune_locked();
  shared.by_name[name].push_back(source);
  return {source, {}};
}

std::shared_ptr<api_key_source> find_api_key_source(const std::string& name) {
  auto& shared = registry();
  std::lock_guard lock(shared.mutex);
  shared.prune_locked();
  const auto found = shared.by_name.find(name);
  if (found == shared.by_name.end()) return nullptr;
  for (auto it = found->second.rbegin(); it != found->second.rend(); ++it) {
    if (auto source = it->lock()) return source;
  }
  return nullptr;
}

jwks_source::open_result jwks_source::open(const std::string& path,
                                           std::chrono::milliseconds poll_interval) {
  auto opened = jwks_file::open(path);
  if (!opened.file) return {nullptr, std::move(opened.errors)};
  for (const auto& note : opened.notes) {
    observe::log(observe::log_level::info, "jwks key skipped", {{"path", path}, {"note", note}});
  }
  std::shared_ptr<jwks_source> source(new jwks_source(std::move(opened.file)));
  if (poll_interval.count() > 0) {
    source->thread_ = std::thread([raw = source.get(), poll_interval] { raw->run(poll_interval); });
  }
  return {std::move(source), {}};
}

jwks_source::~jwks_source() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

jwks_file::reload_result jwks_source::reload() {
  auto result = file_->reload();
  if (result.status == jwks_file::reload_status::reloaded) {
    observe::log(observe::log_level::info, "jwks reloaded", {{"path", path()}});
  }
  return result;
}

jwks_file::reload_result jwks_source::reload_if_changed() {
  auto result = file_->reload_if_changed();
  switch (result.status) {
    case jwks_file::reload_status::unchanged:
      break;
    case jwks_file::reload_status::reloaded:
      observe::log(observe::log_level::info, "jwks reloaded", {{"path", path()}});
      break;
    case jwks_file::reload_status::failed:
      // Reported once per change of the file (jwks_file remembers what it read).
      for (const auto& error : result.errors) {
        observe::log(observe::log_level::error, "jwks reload failed; the previous keys stay",
                     {{"path", path()}, {"error", error}});
      }
      break;
  }
  return result;
}

// Off the request path: an identity provider rotating its keys (a new file
// written and renamed into place) is picked up within one interval.
void jwks_source::run(std::chrono::milliseconds poll_interval) {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, poll_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    reload_if_changed();
    lock.lock();
  }
}

}  // namespace bulwark::policy::auth
