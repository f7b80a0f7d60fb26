// key_table: per-key state (a limiter per client IP, a connection count per IP...)
// with a hard cap on the number of entries, so a spray of a million distinct keys
// stays inside the cap while hot keys stay.
//
// Cap. In ENTRIES, exact: size() <= max_entries at every moment. Memory is about
// max_entries * bytes_per_entry(key length); max_entries_for_bytes() turns a byte
// budget into an entry cap. Keys are stored as given, so callers bound the length
// of keys built from client input.
//
// Layout: two dependent memory reads per lookup, an index cell then the entry.
// Each key has one heap block, its entry: reference count, recency links, the
// State itself and the key bytes (~110 bytes for a token bucket and an IPv4 key,
// its lines fetched in parallel once its address is known). A shard's index is an
// open-addressing array of {hash, entry*} cells (linear probing, backward-shift
// deletion, at most half full): a lookup filters on the full 64-bit hash in the
// cell and dereferences only the entry it wants. (The previous version went index
// -> slot -> LRU neighbours -> shared_ptr control block: 3 to 5 cache misses.)
//
// Recency: approximate LRU with lazy promotion. Each shard keeps a recency list
// and counts pushes to its front; a hit moves its entry to the front only once
// the entry is at least ceil(C/2) pushes old (C: the shard's capacity), so hot
// keys cost no list writes. Eviction takes the back of the list.
// Guarantee, per shard: the floor(C/2) most recently used distinct keys are
// always present. So a key used at least once every floor(C/2) operations on its
// shard (a fortiori every min_shard_capacity() / 2 operations on the table) is
// never evicted, whatever the other keys do. Why: an entry is evicted only from
// the back of a full list, behind C - 1 entries pushed after it, so only once it
// is C - 1 pushes old; right after a use it is under ceil(C/2) pushes old; so at
// least floor(C/2) pushes follow its last use, each the use of another key, and
// all distinct, since an entry is pushed again only after ceil(C/2) other pushes.
// Conversely, while a key is present fewer than C keys were inserted after its
// last use (they are all in front of it), so old keys do leave.
//
// Hash: keyed per table (detail::keyed_hash), so keys chosen to collide under
// std::hash, or under another instance, spread out here.
//
// Threads. One lock per shard (up to 64), held for the index probe and list
// update only; the factory and the caller's fn run outside any lock. The lock is
// a spin-then-yield lock rather than std::mutex: for a critical section of a few
// dozen instructions, the mutex's second locked instruction (on unlock) and its
// calls were a measurable share of a lookup.
//
// Lifetime: an entry's reference count holds one reference for the table while
// the key is indexed and one per handle. get() and with() take theirs under the
// shard lock while the entry is indexed, so a count never climbs back from zero;
// eviction unindexes under the lock and drops the table's reference after
// unlocking; whoever drops the last reference destroys the state. So a state
// evicted while a caller uses it lives until the caller is done, with no epoch
// scheme: the price is two uncontended atomic operations on a line the lookup has
// just fetched. A new request for an evicted key starts with a fresh state.
//
// Creation runs the factory outside the lock: when threads race to create the
// same key, one state is kept and the others are destroyed unseen, so under that
// race the factory may run more than once for a key (never in one thread).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>  // std::lock_guard
#include <new>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace bulwark::core {
namespace detail {

// A keyed 64-bit string hash: wyhash's structure (Wang Yi, public domain) with its
// public constants replaced by secrets drawn from std::random_device for each
// instance. Keys built to collide under one instance, or under std::hash (which
// is unkeyed), land at unrelated places under another; and wyhash's known weak
// spot, a key word equal to a public constant zeroing a product and erasing the
// rest of the key, would need the secret. Not a cryptographic PRF like SipHash:
// it is the HashDoS defence of Go's maps and Rust's hashbrown, at a few ns.
class keyed_hash {
 public:
  keyed_hash();  // fresh random secrets (key_table.cpp keeps <random> out of here)

  std::uint64_t operator()(std::string_view key) const noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(key.data());
    const std::size_t length = key.size();
    std::uint64_t seed = seed_;
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    if (length <= 16) {
      if (length >= 4) {
        // Four 4-byte reads that together cover [0, length).
        const std::size_t middle = (length >> 3) << 2;
        a = (read4(p) << 32) | read4(p + middle);
        b = (read4(p + length - 4) << 32) | read4(p + length - 4 - middle);
      } else if (length > 0) {
        a = (std::uint64_t{p[0]} << 16) | (std::uint64_t{p[length >> 1]} << 8) | p[length - 1];
      }
    } else {
      std::size_t rest = length;
      for (; rest > 16; rest -= 16, p += 16) seed = mix(read8(p) ^ secret1_, read8(p + 8) ^ seed);
      a = read8(p + rest - 16);  // the last 16 bytes, overlapping the last block
      b = read8(p + rest - 8);
    }
    const product ab = multiply(a ^ secret1_, b ^ seed);
    return mix(ab.low ^ secret0_ ^ length, ab.high ^ secret1_);
  }

 private:
  struct product {
    std::uint64_t low;
    std::uint64_t high;
  };
  static product multiply(std::uint64_t a, std::uint64_t b) noexcept {
    __extension__ using wide = unsigned __int128;
    const wide r = static_cast<wide>(a) * b;
    return {static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(r >> 64)};
  }
  static std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
    const product r = multiply(a, b);
    return r.low ^ r.high;
  }
  static std::uint64_t read8(const unsigned char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static std::uint64_t read4(const unsigned char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }

  std::uint64_t secret0_;
  std::uint64_t secret1_;
  std::uint64_t seed_;
};

// A test-and-test-and-set lock for critical sections of a few dozen
// instructions: one locked instruction to take it, a plain store to release it.
// A waiter spins briefly, then yields its core, so that a holder preempted on a
// busy machine gets to run instead of being spun against for a whole time slice.
class spin_lock {
 public:
  void lock() noexcept {
    while (held_.exchange(true, std::memory_order_acquire)) {
      for (int spins = 0; held_.load(std::memory_order_relaxed); ++spins) {
        if (spins < 64) {
          pause();
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  std::atomic<bool> held_{false};
};

}  // namespace detail

template <class State>
class key_table {
  struct entry;

 public:
  // Builds the state of a new key in place (State need not be movable).
  using factory = std::function<State(std::string_view key)>;

  // Shared ownership of one key's state, like a shared_ptr<State>: the state
  // lives while a handle to it does, even after its key is evicted.
  class handle {
   public:
    handle() = default;
    handle(const handle& other) noexcept : entry_(other.entry_) {
      if (entry_ != nullptr) entry_->acquire();
    }
    handle(handle&& other) noexcept : entry_(std::exchange(other.entry_, nullptr)) {}
    handle& operator=(handle other) noexcept {
      std::swap(entry_, other.entry_);
      return *this;
    }
    ~handle() {
      if (entry_ != nullptr) entry_->release();
    }

    State* get() const noexcept { return entry_ != nullptr ? &entry_->state : nullptr; }
    State& operator*() const noexcept { return entry_->state; }
    State* operator->() const noexcept { return &entry_->state; }
    explicit operator bool() const noexcept { return entry_ != nullptr; }
    friend bool operator==(const handle& a, const handle& b) noexcept {
      return a.entry_ == b.entry_;
    }

   private:
    friend class key_table;
    explicit handle(entry* adopted) noexcept : entry_(adopted) {}

    entry* entry_ = nullptr;
  };

  static constexpr std::size_t max_shards = 64;

  // shards: a power of two up to 64, or 0 to pick one from max_entries (at least
  // ~256 entries per shard so that the per-shard guarantee stays meaningful).
  key_table(std::size_t max_entries, factory make, std::size_t shards = 0)
      : make_(std::move(make)), shards_(pick_shard_count(max_entries, shards)) {
    if (max_entries == 0 || !make_) {
      throw std::invalid_argument("key_table: max_entries must be positive and a factory given");
    }
    shard_bits_ = static_cast<unsigned>(std::countr_zero(shards_.size()));
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      shard& s = shards_[i];
      s.capacity = max_entries / shards_.size() + (i < max_entries % shards_.size());
      s.promote_age = (s.capacity + 1) / 2;
    }
  }

  key_table(const key_table&) = delete;
  key_table& operator=(const key_table&) = delete;

  // Handles may outlive the table: each entry goes when its last reference does.
  ~key_table() {
    for (shard& s : shards_) {
      for (entry* e = s.newest; e != nullptr;) std::exchange(e, e->older)->release();
    }
  }

  // Runs fn(State&) on the key's state, creating it if absent, and returns fn's
  // result. fn runs without any table lock held.
  template <class Fn>
  decltype(auto) with(std::string_view key, Fn&& fn) {
    const handle pinned = get(key);
    return std::invoke(std::forward<Fn>(fn), *pinned);
  }

  // The key's state, created if absent; counts as a use of the key.
  handle get(std::string_view key) {
    const std::uint64_t hash = hash_(key);
    shard& s = shard_for(hash);
    {
      std::lock_guard lock(s.spin);
      if (entry* found = s.use(hash, key)) {
        found->acquire();
        return handle(found);
      }
    }
    return create(s, hash, key);
  }

  // Whether the key has an entry; does not count as a use.
  bool contains(std::string_view key) const {
    const std::uint64_t hash = hash_(key);
    const shard& s = shard_for(hash);
    std::lock_guard lock(s.spin);
    return s.find(hash, key) != nullptr;
  }

  std::size_t size() const {
    return sum([](const shard& s) { return s.size; });
  }
  std::uint64_t evictions() const {
    return sum([](const shard& s) { return s.evictions; });
  }
  std::size_t capacity() const {
    std::size_t total = 0;
    for (const shard& s : shards_) total += s.capacity;
    return total;
  }
  std::size_t min_shard_capacity() const { return shards_.back().capacity; }
  std::size_t shard_count() const { return shards_.size(); }

  // Approximate upper bound of the memory one entry holds: its block with the
  // allocator's 8-byte header in 16-byte granules (glibc malloc), and its share
  // of the index (kept between 1/4 and 1/2 full).
  static constexpr std::size_t bytes_per_entry(std::size_t key_length) {
    constexpr std::size_t granule = 16;
    const std::size_t block = (sizeof(entry) + key_length + 8 + granule - 1) / granule * granule;
    return block + 4 * sizeof(cell);
  }
  static constexpr std::size_t max_entries_for_bytes(std::size_t bytes, std::size_t key_length) {
    return bytes / bytes_per_entry(key_length);
  }

  // The longest probe run (cells read to find a present key), over all shards.
  std::size_t longest_probe_for_test() const {
    std::size_t longest = 0;
    for (const shard& s : shards_) {
      std::lock_guard lock(s.spin);
      for (std::size_t i = 0; i < s.index.size(); ++i) {
        if (s.index[i].target != nullptr) {
          longest = std::max(longest, ((i - s.index[i].hash) & s.mask()) + 1);
        }
      }
    }
    return longest;
  }

 private:
  // One key: header, state, then key_length bytes of key right after the object.
  struct entry {
    std::atomic<std::uint32_t> refs{1};
    std::uint32_t key_length;
    std::uint64_t hash;
    std::uint64_t stamp = 0;  // the shard's push count when last moved to the front
    entry* newer = nullptr;   // recency list, towards the front
    entry* older = nullptr;
    State state;

    entry(std::string_view key, std::uint64_t key_hash, const factory& make)
        : key_length(static_cast<std::uint32_t>(key.size())), hash(key_hash), state(make(key)) {
      std::memcpy(key_bytes(), key.data(), key.size());
    }

    // Plain malloc alignment unless State needs more: line-aligned blocks
    // (memalign) measured slower, on misses (memalign itself) and on hits (its
    // padding spreads the entries over more memory).
    static entry* create(std::string_view key, std::uint64_t key_hash, const factory& make) {
      void* block = ::operator new (sizeof(entry) + key.size(), std::align_val_t{alignof(entry)});
      try {
        return ::new (block) entry(key, key_hash, make);
      } catch (...) {
        ::operator delete (block, std::align_val_t{alignof(entry)});
        throw;
      }
    }

    std::string_view key() const {
      return {reinterpret_cast<const char*>(this) + sizeof(entry), key_length};
    }
    char* key_bytes() { return reinterpret_cast<char*>(this) + sizeof(entry); }

    void acquire() noexcept { refs.fetch_add(1, std::memory_order_relaxed); }
    // acq_rel: every holder's use of the state happens before its destruction.
    void release() noexcept {
      if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        this->~entry();
        ::operator delete (this, std::align_val_t{alignof(entry)});
      }
    }
  };

  struct release_entry {
    void operator()(entry* e) const noexcept { e->release(); }
  };
  using entry_ref = std::unique_ptr<entry, release_entry>;

  struct cell {
    std::uint64_t hash = 0;
    entry* target = nullptr;  // null: empty
  };

  // One shard; alignas keeps two shards' locks off the same cache line.
  struct alignas(64) shard {
    mutable detail::spin_lock spin;
    std::size_t capacity = 0;
    std::uint64_t promote_age = 1;  // ceil(capacity / 2)
    std::uint64_t pushes = 0;
    std::uint64_t evictions = 0;
    std::size_t size = 0;
    entry* newest = nullptr;
    entry* oldest = nullptr;
    std::vector<cell> index = std::vector<cell>(16);  // power-of-two size, at most half full

    std::size_t mask() const { return index.size() - 1; }

    entry* find(std::uint64_t hash, std::string_view key) const {
      for (std::size_t i = hash & mask();; i = (i + 1) & mask()) {
        const cell& c = index[i];
        if (c.target == nullptr || (c.hash == hash && c.target->key() == key)) return c.target;
      }
    }

    // find() that counts as a use: lazy promotion, see the file comment.
    entry* use(std::uint64_t hash, std::string_view key) {
      entry* found = find(hash, key);
      if (found != nullptr && pushes - found->stamp >= promote_age) {
        unlink(found);
        push_front(found);
      }
      return found;
    }

    // Indexes `fresh`, adopting its reference, and returns the entry evicted to
    // make room (the caller drops its reference after unlocking), or null. Only
    // the index growth may throw, and it comes before any change.
    entry* insert(entry* fresh) {
      entry* victim = nullptr;
      if (size == capacity) {
        victim = evict_oldest();
      } else if (2 * (size + 1) > index.size()) {
        rehash(index.size() * 2);
      }
      place(fresh->hash, fresh);
      ++size;
      push_front(fresh);
      return victim;
    }

    void place(std::uint64_t hash, entry* e) {
      std::size_t i = hash & mask();
      while (index[i].target != nullptr) i = (i + 1) & mask();
      index[i] = {hash, e};
    }

    void rehash(std::size_t cells) {
      std::vector<cell> old = std::exchange(index, std::vector<cell>(cells));
      for (const cell& c : old) {
        if (c.target != nullptr) place(c.hash, c.target);
      }
    }

    entry* evict_oldest() {
      entry* victim = oldest;
      unlink(victim);
      std::size_t i = victim->hash & mask();
      while (index[i].target != victim) i = (i + 1) & mask();
      erase_cell(i);
      --size;
      ++evictions;
      return victim;
    }

    // Backward-shift deletion: pull later cells of the probe run into the hole
    // unless that would move them before their home cell.
    void erase_cell(std::size_t hole) {
      for (std::size_t next = (hole + 1) & mask(); index[next].target != nullptr;
           next = (next + 1) & mask()) {
        const std::size_t home = index[next].hash & mask();
        if (((next - home) & mask()) >= ((next - hole) & mask())) {
          index[hole] = index[next];
          hole = next;
        }
      }
      index[hole] = {};
    }

    void unlink(entry* e) {
      (e->newer == nullptr ? newest : e->newer->older) = e->older;
      (e->older == nullptr ? oldest : e->older->newer) = e->newer;
    }
    void push_front(entry* e) {
      e->newer = nullptr;
      e->older = newest;
      (newest == nullptr ? oldest : newest->newer) = e;
      newest = e;
      e->stamp = ++pushes;
    }
  };

  // The miss path: build the entry unlocked, then index it unless another thread
  // indexed the key meanwhile. Victims and losers are released after unlocking,
  // so no state destructor runs under the lock.
  handle create(shard& s, std::uint64_t hash, std::string_view key) {
    entry_ref fresh(entry::create(key, hash, make_));
    entry_ref victim;
    entry* found;
    {
      std::lock_guard lock(s.spin);
      found = s.use(hash, key);
      if (found == nullptr) {
        victim.reset(s.insert(fresh.get()));
        found = fresh.release();  // the index owns that reference now
      }
      found->acquire();
    }
    return handle(found);
  }

  static std::size_t pick_shard_count(std::size_t max_entries, std::size_t requested) {
    if (requested != 0) {
      if (!std::has_single_bit(requested) || requested > max_shards) {
        throw std::invalid_argument("key_table: shards must be a power of two <= 64");
      }
      return requested;
    }
    return std::clamp<std::size_t>(std::bit_floor(std::max<std::size_t>(max_entries / 256, 1)), 1,
                                   max_shards);
  }

  // Shards take the hash's high bits, index cells its low bits.
  shard& shard_for(std::uint64_t hash) { return shards_[shard_index(hash)]; }
  const shard& shard_for(std::uint64_t hash) const { return shards_[shard_index(hash)]; }
  std::size_t shard_index(std::uint64_t hash) const {
    return shard_bits_ == 0 ? 0 : static_cast<std::size_t>(hash >> (64 - shard_bits_));
  }

  template <class Field>
  auto sum(Field field) const {
    decltype(field(shards_.front())) total = 0;
    for (const shard& s : shards_) {
      std::lock_guard lock(s.spin);
      total += field(s);
    }
    return total;
  }

  factory make_;
  detail::keyed_hash hash_;
  std::vector<shard> shards_;
  unsigned shard_bits_ = 0;
};

}  // namespace bulwark::core
