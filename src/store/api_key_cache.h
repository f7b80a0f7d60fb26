// The request path's view of the API keys: an immutable snapshot in memory.
//
// verify() never touches SQLite, takes no mutex and allocates nothing: it
// hashes the presented secret, finds the id in the current snapshot (one atomic
// shared_ptr load), compares hashes in constant time and checks revocation and
// expiry against the `now` it is given. refresh() builds a new snapshot from the
// store and swaps it in; requests already holding the old one finish with it.
//
// Last use is recorded in memory (one atomic per key, shared by successive
// snapshots) and written to the store in batches by api_key_watcher, so a
// request never waits on a write.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/units.h"
#include "store/api_key.h"
#include "store/key_store.h"

namespace bulwark::store {

// Who a verified key belongs to, for the auth phase (identity headers, scope
// checks) and the rate limiter (`key: api_key`, per-key rate override).
struct key_identity {
  std::string id;
  std::string name;
  std::vector<std::string> scopes;
  std::optional<std::string> rate_text;  // as given, e.g. "100/s"
  std::optional<core::rate> rate;        // parsed; nullopt when there is no override

  bool has_scope(std::string_view scope) const;
};

enum class key_failure { none, malformed, unknown, revoked, expired };
std::string_view to_string(key_failure failure);

struct verify_result {
  std::shared_ptr<const key_identity> identity;  // set exactly when failure is none
  key_failure failure = key_failure::none;

  bool ok() const { return failure == key_failure::none; }
};

class api_key_cache {
 public:
  // `store` may be null for a cache that is only ever load()ed (tests).
  explicit api_key_cache(std::shared_ptr<key_store> store = nullptr);

  // Safe from any thread.
  // A correct key whose id is known is reported revoked or expired only after
  // its secret matched, so the answer reveals nothing to someone without the
  // secret: a wrong secret for a known id is `unknown`, as an unknown id is.
  // Success records `now` as the key's last use (to the second: a later use
  // less than a second after the recorded one is not written).
  verify_result verify(std::string_view presented_key, wall_time now) const;

  // Re-reads the store (the caller's thread waits on SQLite; never call it on
  // the request path). On failure the current snapshot stays.
  outcome<std::size_t> refresh();

  // Replaces the snapshot with these entries (what refresh does after reading).
  void load(std::vector<key_entry> entries);

  std::size_t size() const;

  // Uses recorded since the last mark_flushed, for the watcher to write.
  std::vector<std::pair<std::string, wall_time>> unflushed_uses() const;
  void mark_flushed(const std::vector<std::pair<std::string, wall_time>>& uses);
  // Writes unflushed uses to the store; what the watcher calls.
  outcome<std::size_t> flush_uses();

  const std::shared_ptr<key_store>& store() const { return store_; }

 private:
  // Per key, shared by every snapshot that contains the key, so a refresh does
  // not lose uses recorded in between.
  struct usage {
    std::atomic<std::int64_t> last_used_ms{0};  // Unix ms; 0: never
    std::atomic<std::int64_t> flushed_ms{0};
  };
  struct cached_key {
    secret_hash hash{};
    std::shared_ptr<const key_identity> identity;
    std::optional<wall_time> expires_at;
    bool revoked = false;
    std::shared_ptr<usage> use;
  };
  struct snapshot {
    std::unordered_map<std::string, cached_key> keys;
  };

  std::shared_ptr<key_store> store_;
  std::atomic<std::shared_ptr<const snapshot>> current_;
  std::mutex load_mutex_;  // one load at a time, so usage objects carry over exactly
};

}  // namespace bulwark::store
