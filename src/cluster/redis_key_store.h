// API keys kept in the cluster's Redis (`auth.api_keys.store: redis`), so that
// every instance serves the same keys: a key created, revoked or rotated
// through one instance's admin API or by `bulwark keys -c CONFIG` applies on
// every instance within a poll of their watchers (store/api_key_watcher.h,
// every 500 ms).
//
// The same rules as the SQLite store (store/key_store.h): the secret is never
// stored, only its SHA-256 (hex); the cache compares in constant time; no
// message or log line carries a key or a hash.
//
// Threads. This store talks to Redis with hiredis's *synchronous* API on the
// threads that already do blocking store work: the key watcher's thread, the
// admin thread, the CLI. The workers never call it (they read the cache's
// snapshot), and the cluster thread's asynchronous client (redis_client.h) is
// not shared: key changes are rare, and a blocking call bounded by
// cluster.redis.timeout is simpler than a hop to the cluster thread and back.
// One connection, opened on first use and again after any failure, behind a
// mutex. Every connect, AUTH, SELECT and command is bounded by the timeout
// (SO_SNDTIMEO / SO_RCVTIMEO), so a Redis that accepts and never answers costs
// a caller at most a few timeouts, never a hang. (A host name is resolved by
// getaddrinfo, which the timeout does not bound: configure an address, or a
// name the local resolver answers at once.)
//
// Data model (all keys hash-tagged `{keys}`, so they share one slot and a Redis
// Cluster could serve them as one):
//   bulwark:{keys}:key:<id>  hash: name, hash (SHA-256 of the secret, hex),
//                            scopes (a,b), rate, created_at, expires_at,
//                            revoked_at, last_used_at, replaced_by (Unix ms)
//   bulwark:{keys}:ids       set of every id
//   bulwark:{keys}:version   counter, INCRed in the same MULTI/EXEC as every
//                            change of a key (not by last-use writes)
// Writes are optimistic transactions: WATCH the records read, check them in
// C++ (the same rules as SQLite: store/key_store.h plan_rotation), then MULTI
// ... INCR version ... EXEC; a concurrent change of a watched record aborts
// the EXEC and the operation starts again. Rotation (new record, old record's
// shortened expiry, version) is one EXEC.
//
// Nothing here has a TTL: the records are the source of truth. Records revoked
// or expired more than `retention` ago are deleted (pruned) after each write,
// so the set does not grow without bound (docs/cluster.md, "Keys in Redis").
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "store/key_store.h"

namespace bulwark::cluster {

struct redis_key_store_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string password;  // the secret itself (from password_env); empty: no AUTH. Never logged.
  unsigned db = 0;
  core::duration timeout = std::chrono::milliseconds(50);
  // How long a revoked or expired record stays listed before it is pruned.
  std::chrono::hours retention{24 * 30};
};

// The names of the keys this store uses.
namespace redis_key_names {
inline constexpr std::string_view ids = "bulwark:{keys}:ids";
inline constexpr std::string_view version = "bulwark:{keys}:version";
std::string record(std::string_view id);  // bulwark:{keys}:key:<id>
}  // namespace redis_key_names

class redis_call;  // the calls of one operation; redis_key_store.cpp

class redis_key_store final : public store::key_store {
 public:
  // Connects lazily: nothing is sent before the first call.
  explicit redis_key_store(redis_key_store_options options);
  ~redis_key_store() override;

  std::string_view kind() const override { return "redis"; }
  const std::string& location() const override { return location_; }  // host:port/db

  store::outcome<store::issued_key> create(const store::new_key_request& request, store::wall_time now) override;
  store::outcome<std::vector<store::key_record>> list() override;
  store::outcome<store::key_record> get(std::string_view id) override;
  store::outcome<store::key_record> revoke(std::string_view id, store::wall_time now) override;
  store::outcome<store::issued_key> rotate(const store::rotate_request& request, store::wall_time now) override;
  store::outcome<std::vector<store::key_entry>> load_entries() override;
  store::outcome<std::size_t> record_last_used(
      const std::vector<std::pair<std::string, store::wall_time>>& uses) override;
  // "<server run_id>/<version counter>"; `lost` when the counter is missing
  // (a Redis restarted without persistence, or flushed: the counter exists
  // from the first write on). The run_id tells a restarted server's counter,
  // which starts again from 1, from the one read before.
  store::outcome<store::store_version> version() override;

  // Deletes the records revoked or expired more than options.retention
  // before `now`; what create, revoke and rotate run after their change.
  store::outcome<std::size_t> prune(store::wall_time now);

  struct connection;  // hiredis, inside the .cpp only (CMakeLists.txt says why)

 private:
  // After a write, under the mutex, on the same connection. Best effort: the
  // write stands whatever pruning answers (the next write prunes again).
  store::outcome<std::size_t> prune_locked(redis_call& call, store::wall_time now);

  redis_key_store_options options_;
  std::string location_;
  std::mutex mutex_;  // one caller at a time on the connection
  std::unique_ptr<connection> connection_;
};

}  // namespace bulwark::cluster
