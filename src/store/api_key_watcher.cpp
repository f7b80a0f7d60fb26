#include "store/api_key_watcher.h"

#include "observe/log.h"

namespace bulwark::store {

api_key_watcher::api_key_watcher(std::shared_ptr<api_key_cache> cache, watcher_options options)
    : cache_(std::move(cache)), options_(std::move(options)) {
  // The baseline is unknown: the first poll refreshes once (a change between
  // the cache's first load and here is not missed).
}

api_key_watcher::~api_key_watcher() { stop(); }

void api_key_watcher::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void api_key_watcher::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  flush();
}

void api_key_watcher::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    poll_once(core::time_point(std::chrono::steady_clock::now().time_since_epoch()));
    lock.lock();
    wake_.wait_for(lock, options_.poll_interval, [this] { return stopping_; });
  }
}

watcher_status api_key_watcher::status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

void api_key_watcher::fail(std::string_view what, const store_error& error, wall_time wall) {
  std::lock_guard lock(status_mutex_);
  if (!status_.stale) {
    observe::log(observe::log_level::error, what,
                 {{"store", std::string(cache_->store()->kind())},
                  {"location", cache_->store()->location()},
                  {"error", error.message},
                  {"keys_kept", cache_->size()}});
    status_.stale = true;
    status_.stale_since = wall;
  }
  status_.error = error.message;
}

bool api_key_watcher::poll_once(core::time_point now, wall_time wall) {
  const auto& store = cache_->store();
  if (!store) return false;
  const bool stale = status().stale;
  // Not while the store is unreachable: the uses stay in memory until it is back.
  if (!stale && (!last_flush_ || now - *last_flush_ >= options_.flush_interval)) {
    flush();
    last_flush_ = now;
  }
  const auto version = store->version();
  if (!version.ok()) {
    fail("api key store unreadable; serving the last snapshot", version.error, wall);
    return false;
  }
  bool lost = false;
  bool refreshed_now = false;
  std::size_t loaded = 0;
  if (version.value->lost && cache_->size() > 0) {
    // See the file comment: an emptied store must not lock every client out.
    // The baseline goes: the store's first version after the loss may read
    // like the one before it (a counter starting again), and must be loaded.
    lost = true;
    seen_.reset();
  } else if (!seen_ || seen_->token != version.value->token) {
    const auto refreshed = cache_->refresh();
    if (!refreshed.ok()) {
      fail("api key refresh failed; serving the last snapshot", refreshed.error, wall);
      return false;  // baseline unchanged: the next poll tries again
    }
    seen_ = *version.value;
    refreshed_now = true;
    loaded = *refreshed.value;
  }
  {
    std::lock_guard lock(status_mutex_);
    if (status_.stale) {
      observe::log(observe::log_level::info, "api key store readable again",
                   {{"store", std::string(store->kind())}, {"location", store->location()}});
    }
    if (lost && !status_.store_lost) {
      observe::log(observe::log_level::error,
                   "api key store is empty (restarted without persistence, or flushed); keeping the last "
                   "snapshot until keys are written to it again",
                   {{"store", std::string(store->kind())},
                    {"location", store->location()},
                    {"keys_kept", cache_->size()}});
    }
    status_.stale = false;
    status_.stale_since.reset();
    status_.error.clear();
    status_.store_lost = lost;
    if (refreshed_now) status_.last_refresh = wall;
  }
  if (refreshed_now && options_.on_refresh) options_.on_refresh(loaded);
  return refreshed_now;
}

void api_key_watcher::flush() {
  const auto& store = cache_->store();
  if (!store) return;
  const auto written = cache_->flush_uses();
  if (!written.ok()) {
    observe::log(observe::log_level::warn, "api key last-use flush failed",
                 {{"store", std::string(store->kind())}, {"location", store->location()},
                  {"error", written.error.message}});
    return;
  }
  // Our own write may have changed what version() reads (SQLite: the file's
  // size or mtime, not data_version, which ignores this connection's commits);
  // move the baseline by that much only, so that it does not trigger a
  // refresh of its own.
  if (*written.value > 0 && seen_) seen_ = store->after_own_write(*seen_);
}

}  // namespace bulwark::store
