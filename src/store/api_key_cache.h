// The request path's view of the API keys: an immutable snapshot in memory.
//
// verify() never touches SQLite, takes no mutex and allocates nothing (but,
// once per thread, the thread's remembered keys below): it hashes the
// presented secret, finds the id in the current snapshot, compares hashes in
// constant time and checks revocation and expiry against the `now` it is
// given. refresh() builds a new snapshot from the store and swaps it in;
// requests already holding the old one finish with it.
//
// Remembered keys, per thread. Hashing the secret was most of a verification
// (SHA-256 through EVP, ~3k instructions), and a client sends the same key on
// every request. So each thread remembers the keys that verified on it, by
// their full text, with the snapshot they verified against: a key presented
// again is compared with the remembered text in constant time (texts_equal,
// CRYPTO_memcmp) instead of being hashed, and then revocation and expiry are
// checked against `now` as on the first verification, so a remembered key
// that expires is refused on time.
//   - Any change: every load() (a refresh by the watcher, the admin API or a
//     configuration reload) publishes a snapshot with a new generation,
//     unique in the process. Before it looks at its keys, a thread compares
//     that generation with the one they verified against, and on a
//     difference forgets them all and takes the new snapshot. So a
//     revocation, rotation or any edit applies to every verification that
//     starts after refresh() returned, as without remembered keys.
//   - What is kept: at most `remembered_keys_per_thread` keys per thread,
//     each the text of a key that verified (a refused key is never
//     remembered, so a client without a valid key can neither fill the slots
//     nor learn anything from them). Wiped (OPENSSL_cleanse) when forgotten
//     and when the thread exits, overwritten whole when replaced, never
//     logged. A thread that stops verifying keeps its keys, and the snapshot
//     they belong to, until it verifies again or exits.
//   - Where a key is remembered: in a slot chosen by a plain
//     (non-cryptographic) hash of the key's id, which is no secret (`keys
//     list` shows it, the upstream receives it), so where a key sits says
//     nothing about its secret. The slot only says where to look: a key is
//     accepted only if all 49 bytes equal the remembered text, compared in
//     constant time, so a collision, natural or contrived, is a miss that
//     costs one hash, and the comparison's duration says nothing about where
//     two texts differ. An empty slot's text is compared all the same, so a
//     miss takes as long whether or not the slot was taken. That a hit is
//     faster than a miss tells only that this very key verified lately,
//     which only someone holding the key can ask.
//
// Last use is recorded in memory (one atomic per key, shared by successive
// snapshots) and written to the store in batches by api_key_watcher, so a
// request never waits on a write.
#pragma once

#include <atomic>
#include <cstdint>
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

  // What verify() remembers per thread (see the file comment).
  static constexpr std::size_t remembered_keys_per_thread = 256;
  // The calling thread's remembered keys: how many verifications were
  // answered from them, how many hashed, how many keys it holds.
  struct remembered_keys_stats {
    std::size_t hits = 0;
    std::size_t misses = 0;
    std::size_t held = 0;
  };
  static remembered_keys_stats remembered_keys_for_test();

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
    std::uint64_t generation = 0;  // unique in the process
    std::unordered_map<std::string, cached_key> keys;
  };
  class remembered_keys;  // per thread; api_key_cache.cpp

  // The checks after the secret matched, for a remembered key as for a hashed one.
  static verify_result admit(const cached_key& key, wall_time now);
  // Makes `next` current, with a new generation.
  void publish(std::shared_ptr<snapshot> next);

  std::shared_ptr<key_store> store_;
  std::atomic<std::shared_ptr<const snapshot>> current_;
  // current_'s generation, stored after it: a thread that reads it here knows
  // whether the snapshot it holds is still current without touching
  // current_ (whose load takes a lock bit and a reference count, on a cache
  // line every worker shares).
  std::atomic<std::uint64_t> generation_{0};
  std::mutex load_mutex_;  // one load at a time, so usage objects carry over exactly
};

}  // namespace bulwark::store
