// What the auth phase verifies credentials against, kept across configuration
// snapshots (carried state, phase/carried_state.h): the API-key cache with the
// thread that keeps it in step with its store (the SQLite file, or the
// cluster's Redis), and the JWKS file with the thread that re-reads it when it
// changes.
//
// Both are built on the main thread while a pipeline is built and shared by
// every snapshot that names the same file; their threads stop in their
// destructors, once the last snapshot holding them is gone. The request path
// only reads: api_key_cache::verify() and jwks_source::current(), one atomic
// shared_ptr load each, never SQLite or the disk.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "policy/auth/jwks.h"
#include "store/api_key_cache.h"
#include "store/api_key_watcher.h"

namespace bulwark::policy::auth {

// Opens the key store a configuration names. The gateway's is
// cluster::open_key_store (SQLite or Redis), handed down by the pipeline:
// src/policy does not depend on src/cluster.
using key_store_opener =
    std::function<store::outcome<std::shared_ptr<store::key_store>>(const config::gateway_config&)>;
// SQLite only (auth.api_keys.db): the opener when none is given (unit tests).
store::outcome<std::shared_ptr<store::key_store>> open_sqlite_key_store(const config::gateway_config& config);

// What a key store is known by, the same in every snapshot that uses it: the
// SQLite file's path, or `redis://host:port/db`. Keys the registry below and
// the carried state.
std::string key_store_name(const config::gateway_config& config);

// The API keys of one store: a cache loaded from the store and a watcher that
// refreshes it (changes by the CLI or another instance apply within about a
// second).
class api_key_source {
 public:
  struct open_result {
    std::shared_ptr<api_key_source> source;  // null when `error` is set
    std::string error;
  };
  // Loads the cache once from `store` (known as `name`) and, when `watch`,
  // starts the watcher thread. Waits on the store: main thread only.
  static open_result open(std::shared_ptr<store::key_store> store, std::string name, bool watch = true);

  // A source around a cache filled by hand (tests); nothing is watched.
  explicit api_key_source(std::shared_ptr<store::api_key_cache> cache);
  ~api_key_source();
  api_key_source(const api_key_source&) = delete;
  api_key_source& operator=(const api_key_source&) = delete;

  const std::shared_ptr<store::api_key_cache>& cache() const { return cache_; }
  // The store the cache reads from; null for a hand-filled cache.
  const std::shared_ptr<store::key_store>& store() const { return cache_->store(); }
  // key_store_name() of its store.
  const std::string& name() const { return name_; }
  // The watcher's view (stale, lost, last refresh); all false for a source
  // without a watcher.
  store::watcher_status status() const;

 private:
  std::string name_;
  std::shared_ptr<store::api_key_cache> cache_;
  std::unique_ptr<store::api_key_watcher> watcher_;
};

// The running gateway's key source for the store `name` (key_store_name), or
// null when no live snapshot uses that store. This is how the admin
// API reaches the cache to refresh it at once after a change, without the
// gateway handing the object around. Safe from any thread.
std::shared_ptr<api_key_source> find_api_key_source(const std::string& name);

// A JWKS file and, optionally, a thread that polls it for changes.
class jwks_source {
 public:
  static constexpr std::chrono::milliseconds default_poll_interval{1000};

  struct open_result {
    std::shared_ptr<jwks_source> source;  // null when `errors` is not empty
    std::vector<std::string> errors;
  };
  // `poll_interval` zero: no thread (tests call reload_if_changed() by hand).
  static open_result open(const std::string& path,
                          std::chrono::milliseconds poll_interval = default_poll_interval);

  ~jwks_source();
  jwks_source(const jwks_source&) = delete;
  jwks_source& operator=(const jwks_source&) = delete;

  std::shared_ptr<const key_set> current() const noexcept { return file_->current(); }
  // Forced re-read (configuration reload). Failed: the old keys stay.
  jwks_file::reload_result reload();
  // What the poll thread does each interval; logs what changed.
  jwks_file::reload_result reload_if_changed();
  const std::string& path() const { return file_->path(); }

 private:
  explicit jwks_source(std::unique_ptr<jwks_file> file) : file_(std::move(file)) {}
  void run(std::chrono::milliseconds poll_interval);

  std::unique_ptr<jwks_file> file_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bulwark::policy::auth
