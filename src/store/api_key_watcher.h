// Keeps an api_key_cache in step with its SQLite file, off the request path.
//
// Its own thread polls every `poll_interval` (500 ms): when PRAGMA data_version
// (another connection committed) or the file's inode, size or mtime changed,
// it refreshes the cache, so a change made by `bulwark keys` in another process
// applies within about a second. It also writes recorded key uses to the file,
// at most once per `flush_interval`, and once more on stop().
//
// A change made through the same process (the admin API) should call
// cache.refresh() itself: it then applies at once, without waiting for a poll.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include "core/clock.h"
#include "store/api_key_cache.h"
#include "store/key_store.h"

namespace bulwark::store {

struct watcher_options {
  std::chrono::milliseconds poll_interval{500};
  std::chrono::milliseconds flush_interval{5000};
  // Called (on the watcher's thread) after each refresh the watcher made,
  // with the number of keys loaded; for tests and metrics.
  std::function<void(std::size_t keys)> on_refresh;
};

class api_key_watcher {
 public:
  api_key_watcher(std::shared_ptr<api_key_cache> cache, watcher_options options = {});
  ~api_key_watcher();  // stop()
  api_key_watcher(const api_key_watcher&) = delete;
  api_key_watcher& operator=(const api_key_watcher&) = delete;

  // Starts the thread. The cache should have been refreshed once before, so
  // the gateway does not serve a single request with an empty key set.
  void start();
  // Wakes the thread, waits for it to finish and flushes pending uses.
  // Idempotent.
  void stop();

  // One poll, what the thread does each interval; `now` decides whether a flush
  // is due. Returns whether the cache was refreshed. Tests call it directly, no
  // thread and no sleep involved; never call it while the thread runs (the
  // poll's baseline belongs to one thread at a time).
  bool poll_once(core::time_point now);

 private:
  void run();
  void flush();

  std::shared_ptr<api_key_cache> cache_;
  watcher_options options_;
  std::optional<std::int64_t> data_version_;
  file_signature signature_;
  std::optional<core::time_point> last_flush_;
  bool reported_error_ = false;  // log a failing poll once, not every 500 ms

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bulwark::store
