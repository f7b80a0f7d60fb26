// What the API keys are kept in: the interface every key store implements, and
// the plain request and result types the CLI, the admin API and the cache use.
//
// Two implementations: the embedded SQLite file (`sqlite_key_store.h`, the
// default, `auth.api_keys.store: sqlite`) and the cluster's Redis
// (`cluster/redis_key_store.h`, `store: redis`), which every instance shares.
// The interface lives here and the Redis one in src/cluster, so this folder
// never depends on cluster mode; the one place that picks an implementation
// from the configuration is cluster/key_store_factory.h.
//
// Every function here may wait (on the disk, another process's lock, the
// network), so none of them belongs on the request path: the gateway verifies
// keys against api_key_cache, an in-memory snapshot that an api_key_watcher
// refreshes from the store. Implementations are safe to share between threads
// (the admin thread and the watcher thread).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/api_key.h"

namespace bulwark::store {

// Failure classes that a caller maps to an answer: the CLI to an exit code and a
// message, the admin API to 400 / 404 / 409 / 500.
// `unavailable`: the store could not be reached (Redis down or too slow); the
// admin API answers 503, and the gateway goes on with its last snapshot.
enum class store_errc { invalid_argument, not_found, conflict, database, unavailable };

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

// What the watcher compares between polls to decide whether to reload.
struct store_version {
  // Differs whenever the keys may have changed, by any process.
  std::string token;
  // The store holds nothing and has no record of ever holding anything (Redis
  // restarted without persistence, or flushed). A watcher whose snapshot has
  // keys keeps them rather than lock every client out (api_key_watcher.h).
  bool lost = false;
};

class key_store {
 public:
  virtual ~key_store() = default;

  // "sqlite" or "redis", for /admin/status and log lines.
  virtual std::string_view kind() const = 0;
  // Where the keys are (the file, or the Redis address and db); for messages.
  virtual const std::string& location() const = 0;

  virtual outcome<issued_key> create(const new_key_request& request, wall_time now) = 0;
  virtual outcome<std::vector<key_record>> list() = 0;  // oldest first
  virtual outcome<key_record> get(std::string_view id) = 0;
  // Idempotent: revoking a revoked key returns it unchanged.
  virtual outcome<key_record> revoke(std::string_view id, wall_time now) = 0;
  // Issues a new key (new id, same name, scopes and rate) and shortens the old
  // key's expiry to min(its expiry, now + grace), in one atomic step. The old
  // key must be usable (not revoked, not expired) and not already rotated.
  virtual outcome<issued_key> rotate(const rotate_request& request, wall_time now) = 0;

  // For the cache: every key with its hash, revoked and expired ones included
  // (verify reports them as such rather than as unknown).
  virtual outcome<std::vector<key_entry>> load_entries() = 0;

  // Raises last_used_at to the given times (never lowers it, so two gateways
  // flushing at once keep the later time). Not a change of the keys: it does
  // not move version().
  virtual outcome<std::size_t> record_last_used(const std::vector<std::pair<std::string, wall_time>>& uses) = 0;

  // Change detection for the watcher.
  virtual outcome<store_version> version() = 0;
  // The version to take as the baseline after this store's own
  // record_last_used: `seen` with only that write's traces updated (SQLite:
  // the file's size and mtime), so the write does not trigger a reload of its
  // own and a change by another process in between is not hidden.
  virtual store_version after_own_write(const store_version& seen) { return seen; }

 protected:
  key_store() = default;
  key_store(const key_store&) = delete;
  key_store& operator=(const key_store&) = delete;
};

// Key ids arrive from users: the message for one that is malformed (the
// argument is not echoed: it might be a whole key pasted by mistake).
std::string id_error();

// Validates and normalises what create receives from the CLI or the admin API.
std::string check_request(const new_key_request& request);

// Rotation's rules, shared by the implementations. The arguments alone: an
// error with an empty message when they are fine.
store_error check_rotate_request(const rotate_request& request);
// Against the old key at `now`: a conflict when it cannot be rotated (revoked,
// expired, already rotated), else the new key's expiry (the request's, or the
// old key's own lifetime) and the old key's shortened one.
struct rotation_plan {
  std::optional<wall_time> new_expiry;
  wall_time old_expiry{};
};
outcome<rotation_plan> plan_rotation(const key_record& old, const rotate_request& request, wall_time now);

}  // namespace bulwark::store
