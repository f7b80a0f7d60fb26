#include "store/api_key_watcher.h"

#include "observe/log.h"

namespace bulwark::store {

api_key_watcher::api_key_watcher(std::shared_ptr<api_key_cache> cache, watcher_options options)
    : cache_(std::move(cache)), options_(std::move(options)) {
  // The baseline: what the cache was (presumably) last refreshed from. A change
  // between that refresh and here costs one extra refresh at the first poll at
  // most, since data_version starts unknown.
  if (const auto& store = cache_->store()) signature_ = store->signature();
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

bool api_key_watcher::poll_once(core::time_point now) {
  const auto& store = cache_->store();
  if (!store) return false;
  if (!last_flush_ || now - *last_flush_ >= options_.flush_interval) {
    flush();
    last_flush_ = now;
  }
  const auto version = store->data_version();
  const auto signature = store->signature();
  if (!version.ok()) {
    if (!reported_error_) {
      observe::log(observe::log_level::error, "api key store unreadable",
                   {{"db", store->path()}, {"error", version.error.message}});
      reported_error_ = true;
    }
    return false;
  }
  const bool changed = !data_version_ || *data_version_ != *version.value || signature != signature_;
  if (!changed) return false;
  const auto refreshed = cache_->refresh();
  if (!refreshed.ok()) {
    if (!reported_error_) {
      observe::log(observe::log_level::error, "api key refresh failed",
                   {{"db", store->path()}, {"error", refreshed.error.message}});
      reported_error_ = true;
    }
    return false;  // baseline unchanged: the next poll tries again
  }
  if (reported_error_) {
    observe::log(observe::log_level::info, "api key store readable again", {{"db", store->path()}});
    reported_error_ = false;
  }
  data_version_ = *version.value;
  signature_ = signature;
  if (options_.on_refresh) options_.on_refresh(*refreshed.value);
  return true;
}

void api_key_watcher::flush() {
  if (!cache_->store()) return;
  const auto written = cache_->flush_uses();
  if (!written.ok()) {
    observe::log(observe::log_level::warn, "api key last-use flush failed",
                 {{"db", cache_->store()->path()}, {"error", written.error.message}});
    return;
  }
  // Our own write changed the file's size or mtime (not data_version, which
  // ignores this connection's commits); take the new signature as the baseline
  // so that it does not trigger a refresh of its own.
  if (*written.value > 0) signature_ = cache_->store()->signature();
}

}  // namespace bulwark::store
