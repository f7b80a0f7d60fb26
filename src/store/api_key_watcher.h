// Keeps an api_key_cache in step with its store, off the request path.
//
// Its own thread polls every `poll_interval` (500 ms) the store's version
// (key_store::version(): SQLite's data_version and the file's inode, size and
// mtime; Redis's version counter): when it changed, it refreshes the cache, so a
// change made by `bulwark keys` in another process, or by another instance
// sharing the Redis, applies within about a second. It also writes recorded key
// uses to the store, at most once per `flush_interval`, and once more on stop().
//
// When the store cannot be read (Redis down or too slow, a broken file) the
// cache keeps its last snapshot: every key that was valid stays valid, none is
// refused for want of the store (no lockout). The watcher logs the first
// failure of a streak, retries every poll, and reports the streak in status()
// (`stale`, since when, why) until a poll succeeds. Last uses are not flushed
// meanwhile (they stay recorded in memory and are written once it is back).
//
// A store that says it lost everything (store_version::lost: a Redis restarted
// without persistence, or flushed) while the snapshot has keys is not loaded:
// taking the empty store at its word would refuse every client at once. The
// snapshot stays, an error is logged, and status() reports `store_lost` until
// the store is written again (a key created or restored), after which its
// content is loaded as any change.
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
#include <string>
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

// What the watcher knows of its store, for /admin/status. Copied out under a
// lock: any thread may ask.
struct watcher_status {
  bool stale = false;                   // the last poll failed; the snapshot is what was last read
  std::optional<wall_time> stale_since;  // the first failure of the streak
  std::string error;                    // why (never a key or a hash)
  bool store_lost = false;              // the store came back empty; the snapshot was kept
  std::optional<wall_time> last_refresh;  // the last reload that succeeded
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
  // `wall` is only what status() shows as the times of a streak or a refresh.
  bool poll_once(core::time_point now, wall_time wall = std::chrono::system_clock::now());

  watcher_status status() const;

 private:
  void run();
  void flush();
  // A failed poll: logged once per streak, kept for status().
  void fail(std::string_view what, const store_error& error, wall_time wall);

  std::shared_ptr<api_key_cache> cache_;
  watcher_options options_;
  std::optional<store_version> seen_;  // the version the cache was last refreshed at
  std::optional<core::time_point> last_flush_;

  mutable std::mutex status_mutex_;
  watcher_status status_;  // guarded by status_mutex_

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bulwark::store
