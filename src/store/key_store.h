// The SQLite file that holds the API keys (`auth.api_keys.db`).
//
// Every function here may wait on the disk or on another process's lock
// (busy_timeout), so none of them belongs on the request path: the gateway
// verifies keys against api_key_cache, an in-memory snapshot that an
// api_key_watcher refreshes from this store.
//
// The file is created on first use (parent directories too, mode 0600), in WAL
// mode so readers (gateways) never block the writer (the CLI) and vice versa.
// Schema migrations run inside BEGIN IMMEDIATE and check PRAGMA user_version
// there, so two processes that open a fresh file at once migrate it exactly
// once: the second waits for the first's write lock, then sees the new version.
//
// A key_store is one connection; its functions take an internal mutex, so it may
// be shared between threads (the admin thread and the watcher thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/api_key.h"

namespace bulwark::store {

// Failure classes that a caller maps to an answer: the CLI to an exit code and a
// message, the admin API to 400 / 404 / 409 / 500.
enum class store_errc { invalid_argument, not_found, conflict, database };

struct store_error {
  store_errc code = store_errc::database;
  std::string message;  // for a user; never contains a key or a hash
};

template <class T>
struct outcome {
  std::optional<T> value;
  store_error error;  // meaningful when value is empty

  bool ok() const { return value.has_value(); }
  static outcome success(T v) { return outcome{std::move(v), {}}; }
  static outcome failure(store_errc code, std::string message) {
    return outcome{std::nullopt, store_error{code, std::move(message)}};
  }
  static outcome failure(store_error error) { return outcome{std::nullopt, std::move(error)}; }
};

struct new_key_request {
  std::string name;
  std::vector<std::string> scopes;
  std::optional<std::string> rate;  // validated with core::parse_rate
  std::optional<std::chrono::seconds> expires_in;  // nullopt: never expires
};

struct rotate_request {
  std::string id;
  std::chrono::seconds grace{std::chrono::hours(24)};  // the old key stays valid this long
  // The new key's lifetime. nullopt: the old key's own lifetime (expires_at -
  // created_at), so a 90-day key rotates into a 90-day key; none if it had none.
  std::optional<std::chrono::seconds> expires_in;
};

// A change of the file that the watcher compares between polls.
struct file_signature {
  std::uint64_t inode = 0;
  std::int64_t size = -1;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const file_signature&, const file_signature&) = default;
};

class key_store {
 public:
  // The schema version this build writes; a file with a newer one is refused.
  static constexpr int schema_version = 1;

  static outcome<std::shared_ptr<key_store>> open(const std::string& path);

  ~key_store();
  key_store(const key_store&) = delete;
  key_store& operator=(const key_store&) = delete;

  const std::string& path() const { return path_; }

  outcome<issued_key> create(const new_key_request& request, wall_time now);
  outcome<std::vector<key_record>> list();  // oldest first
  outcome<key_record> get(std::string_view id);
  // Idempotent: revoking a revoked key returns it unchanged.
  outcome<key_record> revoke(std::string_view id, wall_time now);
  // Issues a new key (new id, same name, scopes and rate) and shortens the old
  // key's expiry to min(its expiry, now + grace). The old key must be usable
  // (not revoked, not expired) and not already rotated.
  outcome<issued_key> rotate(const rotate_request& request, wall_time now);

  // For the cache: every key with its hash, revoked and expired ones included
  // (verify reports them as such rather than as unknown).
  outcome<std::vector<key_entry>> load_entries();

  // Raises last_used_at to the given times (never lowers it, so two gateways
  // flushing at once keep the later time). One transaction.
  outcome<std::size_t> record_last_used(const std::vector<std::pair<std::string, wall_time>>& uses);

  // PRAGMA data_version: changes when another connection (another process, or
  // another key_store) commits to the file; not for this connection's own writes.
  outcome<std::int64_t> data_version();
  file_signature signature() const;  // of the main database file

  int user_version_for_test();

 private:
  struct impl;
  key_store(std::string path, std::unique_ptr<impl> impl);

  std::string path_;
  std::mutex mutex_;  // serialises use of the connection
  std::unique_ptr<impl> impl_;
};

// Validates and normalises what create receives from the CLI or the admin API.
std::string check_request(const new_key_request& request);

}  // namespace bulwark::store
