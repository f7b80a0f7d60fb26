#include "store/api_key_cache.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace bulwark::store {
namespace {

constexpr std::int64_t last_use_resolution_ms = 1000;

// Generations are unique across every cache in the process, so keys a thread
// verified against one cache are never taken for another's.
std::atomic<std::uint64_t> next_generation{1};

}  // namespace

// The keys this thread verified against one snapshot (the file comment in
// api_key_cache.h says why and what is kept). Direct-mapped: a key has one
// slot, chosen from its id; a key that lands in a taken slot replaces it.
class api_key_cache::remembered_keys {
 public:
  static constexpr std::size_t slots = remembered_keys_per_thread;
  static_assert(std::has_single_bit(slots));

  // Allocated on the thread's first verification: threads that never verify
  // a key hold nothing.
  static remembered_keys& of_this_thread() {
    thread_local std::unique_ptr<remembered_keys> keys;
    if (!keys) keys = std::make_unique<remembered_keys>();
    return *keys;
  }

  remembered_keys() = default;
  ~remembered_keys() { forget(); }
  remembered_keys(const remembered_keys&) = delete;
  remembered_keys& operator=(const remembered_keys&) = delete;

  // The snapshot of `cache` to verify against: the one held while the
  // cache's generation is unchanged; else, every key forgotten, the current one.
  const snapshot& current(const api_key_cache& cache) {
    const std::uint64_t generation = cache.generation_.load(std::memory_order_acquire);
    if (!snapshot_ || snapshot_->generation != generation) {
      forget();
      // At least as new as `generation`: current_ is stored before generation_.
      snapshot_ = cache.current_.load(std::memory_order_acquire);
    }
    return *snapshot_;
  }

  // The key `presented` verified as, when remembered; else null (and the
  // caller hashes).
  const cached_key* find(std::string_view presented) {
    if (presented.size() != key_length) {
      ++stats_.misses;
      return nullptr;
    }
    const slot& at = slots_[slot_of(presented)];
    // Compared whether or not the slot holds a key: an empty slot's zeros
    // equal no key, and a miss then costs what it costs beside a taken slot.
    const bool same = texts_equal(presented, std::string_view(at.text.data(), at.text.size()));
    if (!same || at.key == nullptr) {
      ++stats_.misses;
      return nullptr;
    }
    ++stats_.hits;
    return at.key;
  }

  // `presented` just verified as `key`, a key of the snapshot current() returned.
  void remember(std::string_view presented, const cached_key& key) {
    if (presented.size() != key_length) return;  // a verified key always has this length
    slot& at = slots_[slot_of(presented)];
    if (at.key == nullptr) ++stats_.held;
    std::memcpy(at.text.data(), presented.data(), key_length);  // overwrites any previous key whole
    at.key = &key;
  }

  remembered_keys_stats stats() const { return stats_; }

 private:
  struct slot {
    std::array<char, key_length> text{};  // zeros when empty
    const cached_key* key = nullptr;      // into snapshot_, which outlives it
  };

  // From the id's 12 characters, not the secret: where a key sits tells
  // nothing about its secret. A multiplicative hash of the id's bytes; ids are
  // random, and one chosen to collide only makes a miss.
  static std::size_t slot_of(std::string_view key) {
    std::uint64_t head = 0;
    std::uint32_t tail = 0;
    static_assert(key_id_length == sizeof head + sizeof tail);
    std::memcpy(&head, key.data() + key_prefix.size(), sizeof head);
    std::memcpy(&tail, key.data() + key_prefix.size() + sizeof head, sizeof tail);
    const std::uint64_t mixed = (head ^ (std::uint64_t{tail} << 29)) * 0x9e3779b97f4a7c15ULL;
    return static_cast<std::size_t>(mixed >> (64 - std::countr_zero(slots)));
  }

  void forget() {
    if (stats_.held > 0) {
      OPENSSL_cleanse(slots_.data(), sizeof slots_);
      stats_.held = 0;
    }
    snapshot_.reset();
  }

  std::shared_ptr<const snapshot> snapshot_;
  std::array<slot, slots> slots_{};
  remembered_keys_stats stats_;
};

bool key_identity::has_scope(std::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

std::string_view to_string(key_failure failure) {
  switch (failure) {
    case key_failure::none: return "none";
    case key_failure::malformed: return "malformed";
    case key_failure::unknown: return "unknown";
    case key_failure::revoked: return "revoked";
    case key_failure::expired: return "expired";
  }
  return "unknown";
}

api_key_cache::api_key_cache(std::shared_ptr<key_store> store) : store_(std::move(store)) {
  publish(std::make_shared<snapshot>());
}

void api_key_cache::publish(std::shared_ptr<snapshot> next) {
  next->generation = next_generation.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t generation = next->generation;
  current_.store(std::shared_ptr<const snapshot>(std::move(next)), std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
}

verify_result api_key_cache::verify(std::string_view presented_key, wall_time now) const {
  remembered_keys& remembered = remembered_keys::of_this_thread();
  const snapshot& keys = remembered.current(*this);
  if (const cached_key* key = remembered.find(presented_key)) return admit(*key, now);
  const auto parts = parse_key(presented_key);
  if (!parts) return {nullptr, key_failure::malformed};
  // Hash before the lookup, so an unknown id costs what a known one does.
  const secret_hash presented = hash_secret(parts->secret);
  // The id is 12 characters: the std::string stays in the small-string buffer.
  const auto found = keys.keys.find(std::string(parts->id));
  if (found == keys.keys.end()) return {nullptr, key_failure::unknown};
  const cached_key& key = found->second;
  if (!hashes_equal(presented, key.hash)) return {nullptr, key_failure::unknown};
  auto result = admit(key, now);
  if (result.ok()) remembered.remember(presented_key, key);
  return result;
}

verify_result api_key_cache::admit(const cached_key& key, wall_time now) {
  if (key.revoked) return {nullptr, key_failure::revoked};
  if (key.expires_at && *key.expires_at <= now) return {nullptr, key_failure::expired};
  // Last use only moves forward (a request that read the clock earlier but got
  // here later must not move it back), and at most once a second: a busy key
  // is used by every worker at once, and a write per request would bounce its
  // cache line between cores for a precision nobody reads.
  const std::int64_t now_ms = to_unix_ms(now);
  auto& last = key.use->last_used_ms;
  std::int64_t seen = last.load(std::memory_order_relaxed);
  while (now_ms - seen >= last_use_resolution_ms &&
         !last.compare_exchange_weak(seen, now_ms, std::memory_order_relaxed)) {
  }
  return {key.identity, key_failure::none};
}

outcome<std::size_t> api_key_cache::refresh() {
  if (!store_) return outcome<std::size_t>::failure(store_errc::database, "the cache has no store");
  auto entries = store_->load_entries();
  if (!entries.ok()) return outcome<std::size_t>::failure(entries.error);
  const std::size_t count = entries.value->size();
  load(std::move(*entries.value));
  return outcome<std::size_t>::success(count);
}

void api_key_cache::load(std::vector<key_entry> entries) {
  std::lock_guard lock(load_mutex_);
  const auto old = current_.load(std::memory_order_acquire);
  auto next = std::make_shared<snapshot>();
  next->keys.reserve(entries.size());
  for (auto& entry : entries) {
    cached_key key;
    key.hash = entry.hash;
    key.expires_at = entry.expires_at;
    key.revoked = entry.revoked;
    auto identity = std::make_shared<key_identity>();
    identity->id = entry.id;
    identity->name = std::move(entry.name);
    identity->scopes = std::move(entry.scopes);
    if (entry.rate) {
      // The store validated it on the way in; a value it cannot parse (edited
      // by hand) means "no override" rather than a refused key.
      auto parsed = core::parse_rate(*entry.rate);
      if (parsed.ok()) identity->rate = *parsed.value;
      identity->rate_text = std::move(entry.rate);
    }
    key.identity = std::move(identity);
    const std::int64_t stored_ms = entry.last_used_at ? to_unix_ms(*entry.last_used_at) : 0;
    if (auto previous = old->keys.find(entry.id); previous != old->keys.end()) {
      key.use = previous->second.use;
    } else {
      key.use = std::make_shared<usage>();
    }
    // What the file says was flushed (by us or another gateway) needs no write.
    std::int64_t flushed = key.use->flushed_ms.load(std::memory_order_relaxed);
    while (flushed < stored_ms &&
           !key.use->flushed_ms.compare_exchange_weak(flushed, stored_ms, std::memory_order_relaxed)) {
    }
    std::int64_t used = key.use->last_used_ms.load(std::memory_order_relaxed);
    while (used < stored_ms &&
           !key.use->last_used_ms.compare_exchange_weak(used, stored_ms, std::memory_order_relaxed)) {
    }
    next->keys.emplace(std::move(entry.id), std::move(key));
  }
  publish(std::move(next));
}

api_key_cache::remembered_keys_stats api_key_cache::remembered_keys_for_test() {
  return remembered_keys::of_this_thread().stats();
}

std::size_t api_key_cache::size() const { return current_.load(std::memory_order_acquire)->keys.size(); }

std::vector<std::pair<std::string, wall_time>> api_key_cache::unflushed_uses() const {
  std::vector<std::pair<std::string, wall_time>> uses;
  const auto keys = current_.load(std::memory_order_acquire);
  for (const auto& [id, key] : keys->keys) {
    const auto used = key.use->last_used_ms.load(std::memory_order_relaxed);
    if (used > key.use->flushed_ms.load(std::memory_order_relaxed)) uses.emplace_back(id, from_unix_ms(used));
  }
  return uses;
}

void api_key_cache::mark_flushed(const std::vector<std::pair<std::string, wall_time>>& uses) {
  const auto keys = current_.load(std::memory_order_acquire);
  for (const auto& [id, when] : uses) {
    auto found = keys->keys.find(id);
    if (found == keys->keys.end()) continue;
    const auto ms = to_unix_ms(when);
    auto& flushed = found->second.use->flushed_ms;
    std::int64_t seen = flushed.load(std::memory_order_relaxed);
    while (seen < ms && !flushed.compare_exchange_weak(seen, ms, std::memory_order_relaxed)) {
    }
  }
}

outcome<std::size_t> api_key_cache::flush_uses() {
  if (!store_) return outcome<std::size_t>::failure(store_errc::database, "the cache has no store");
  auto uses = unflushed_uses();
  if (uses.empty()) return outcome<std::size_t>::success(0);
  auto written = store_->record_last_used(uses);
  if (written.ok()) mark_flushed(uses);
  return written;
}

}  // namespace bulwark::store
