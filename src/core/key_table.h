// key_table: per-key state (a limiter per client IP, a connection count per IP...)
// with a hard cap on the number of entries, so a spray of a million distinct keys
// stays inside the cap while hot keys stay.
//
// Cap. In ENTRIES, exact: size() <= max_entries at every moment. Memory is about
// max_entries * bytes_per_entry(key length); max_entries_for_bytes() turns a byte
// budget into an entry cap. Keys are stored as given, so callers bound the length
// of keys built from client input.
//
// Layout: a hit reads one slot. A slot is `stride` bytes (128 for a token bucket),
// cache-line aligned: a 32-byte header (reference count, hash tag, recency links),
// the State itself, then the key inline (at least 40 bytes: any textual IPv6
// address; a longer key goes to a side allocation the slot points to). Each shard
// owns an array of slots sized from its capacity at construction (capacity + 1/32
// spare; the memory is reserved, and a page becomes resident when a key first
// lands on it), and beside it one fingerprint byte per slot. A key's home is a
// window of 8 consecutive slots starting at a slot chosen by its hash; a new key
// takes the first free slot from the window's start on, so one in the window
// when there is one, else any free slot, else (every slot taken or pinned, see
// Lifetime) a slot of its own on the heap. A slot holding a key of its own
// window carries the key's fingerprint (7 bits of its hash, top bit set), every
// other slot 0. A lookup reads the window's 8 fingerprints as one word and
// compares the key only in the slots whose fingerprint matches (the first
// candidate is the key in all but ~0.3% of the hits on a half-full table);
// only if none holds the key does it read an overflow index: an array of
// {32-bit hash tag, slot number} cells (open addressing, linear probing,
// backward-shift deletion, at most half full) holding just the keys that live
// away from home. The fingerprints are 1/128 of the slots' size (200 KB for
// 200k slots), so they stay in cache where the slots cannot. So the cost of a
// hit depends on where its key landed:
//   - at home (all but ~0.5% of the keys of a half-full table): the fingerprint
//     word, then one slot, i.e. one memory access;
//   - away from home (~90% of the keys of a full table that a spray went
//     through: eviction frees slots anywhere, so a new key rarely finds a free
//     one in its window): the fingerprint word and the index cell, then the
//     slot: two dependent memory accesses.
// (The window's first slot, which holds ~3/4 of the keys of a half-full table,
// and the index cell are asked for along with the fingerprint word, in case
// other processes have pushed the fingerprints out of the cache.)
// Slots never move (State need not be movable, and handles point into them), so
// the home array cannot be rehashed; that is why the off-home keys need an index.
// At 100k keys nearly every hit misses every cache (~170 ns to memory on the
// test machine), so what a hit costs is mostly how many lookups the CPU keeps
// in flight at once, i.e. how few instructions each takes: a lookup and a
// token-bucket decision run ~135 (rare paths out of line: the contended lock,
// the index, promotion, creation), and with the fingerprints they wait for no
// slot but the key's. (The first version had a separately allocated entry per
// key behind an index of every key: two dependent misses per hit, ~200 ns. The
// second read the two slots of a home pair in turn, the index cell alongside,
// in ~170 instructions: ~110-160 ns where this one takes ~75-110.)
// A table whose slot array would exceed max_array_bytes gets an array of that
// size and puts the remaining keys in heap slots: a huge cap costs no more than
// that up front.
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
// (Where a key's slot is plays no part in which key is evicted.)
//
// Hash: keyed per table (detail::keyed_hash), so keys chosen to collide under
// std::hash, or under another instance, spread out here: across shards, home
// slots and index cells alike.
//
// Threads. One lock per shard (up to 64), held for the slot and index probe and
// list update only; the factory, the caller's fn and every State destructor run
// outside any lock. The lock is a spin-then-yield lock rather than std::mutex:
// for a critical section of a few dozen instructions, the mutex's second locked
// instruction (on unlock) and its calls were a measurable share of a lookup.
//
// Lifetime: a slot's reference count holds one reference for the table while
// the key is indexed and one per handle. get() and with() take theirs under the
// shard lock while the key is present, so a count never climbs back from zero;
// eviction unlinks under the lock and drops the table's reference after
// unlocking; whoever drops the last reference destroys the state and frees the
// slot. So a state evicted while a caller uses it lives until the caller is done
// (its slot stays taken until then), with no epoch scheme: the price is two
// uncontended atomic operations on a line the lookup has just fetched. A new
// request for an evicted key starts with a fresh state, in another slot.
// A shard's slot array outlives the table while a handle still pins one of its
// slots (handles may outlive the table).
//
// Creation takes a free slot under the lock, builds the key and the state in it
// with the lock released, then publishes it (and evicts, if the shard is full)
// under the lock. When threads race to create the same key, one state is kept
// and the others are destroyed unseen, so under that race the factory may run
// more than once for a key (never in one thread). A factory that throws leaves
// the table as it was.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
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
      // Two reads that together cover [0, length), overlapping when shorter
      // than twice their width.
      if (length >= 8) {
        a = read8(p);
        b = read8(p + length - 8);
      } else if (length >= 4) {
        a = read4(p);
        b = read4(p + length - 4);
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
    if (held_.exchange(true, std::memory_order_acquire)) wait();
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }

 private:
  // Out of line, so that lock() stays small enough to inline into every lookup.
  [[gnu::noinline]] void wait() noexcept {
    do {
      for (int spins = 0; held_.load(std::memory_order_relaxed); ++spins) {
        if (spins < 64) {
          pause();
        } else {
          std::this_thread::yield();
        }
      }
    } while (held_.exchange(true, std::memory_order_acquire));
  }
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  std::atomic<bool> held_{false};
};

// The free slots of a shard's array: a bitmap with a summary level (a bit per
// bitmap word), so that finding a free slot reads at most size / 4096 summary
// words even when only a handful of slots are free. Not thread-safe: the shard
// lock guards it.
class free_slot_map {
 public:
  static constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

  explicit free_slot_map(std::size_t slots);  // every slot free

  bool test(std::size_t i) const noexcept { return (words_[i >> 6] >> (i & 63)) & 1; }
  void set(std::size_t i) noexcept;
  void clear(std::size_t i) noexcept;
  // The first free slot at or after `from`, wrapping around; none if all are taken.
  std::size_t find_from(std::size_t from) const noexcept;

 private:
  std::size_t first_word_from(std::size_t word) const noexcept;

  std::vector<std::uint64_t> words_;    // bit set: slot free
  std::vector<std::uint64_t> summary_;  // bit w set: words_[w] != 0
};

// Memory for a slot array: zero-filled pages straight from the kernel (an
// anonymous mapping), so the pages no key has touched stay unbacked whatever
// the allocator (tcmalloc's calloc, for one, writes the zeros itself, which
// made a table resident in full at start). Returns null on failure.
void* allocate_zeroed(std::size_t bytes) noexcept;
void free_zeroed(void* block, std::size_t bytes) noexcept;

}  // namespace detail

template <class State>
class key_table {
  struct slot;
  struct shard;

 public:
  // Builds the state of a new key in place (State need not be movable).
  using factory = std::function<State(std::string_view key)>;

  // Shared ownership of one key's state, like a shared_ptr<State>: the state
  // lives while a handle to it does, even after its key is evicted.
  class handle {
   public:
    handle() = default;
    handle(const handle& other) noexcept : slot_(other.slot_) {
      if (slot_ != nullptr) acquire(slot_);
    }
    handle(handle&& other) noexcept : slot_(std::exchange(other.slot_, nullptr)) {}
    handle& operator=(handle other) noexcept {
      std::swap(slot_, other.slot_);
      return *this;
    }
    ~handle() {
      if (slot_ != nullptr) release(slot_);
    }

    State* get() const noexcept { return slot_ != nullptr ? state_of(slot_) : nullptr; }
    State& operator*() const noexcept { return *state_of(slot_); }
    State* operator->() const noexcept { return state_of(slot_); }
    explicit operator bool() const noexcept { return slot_ != nullptr; }
    friend bool operator==(const handle& a, const handle& b) noexcept {
      return a.slot_ == b.slot_;
    }

    // The key the state was created for; valid while this handle is (a slot's
    // key is written before it is published and freed only with the slot).
    std::string_view key() const noexcept { return key_of(slot_); }

    // The reference as an opaque pointer, for holders that cannot name the
    // table's type (core::lease_pool keeps cells alive this way); adopt()
    // turns it back into the handle, whose destruction releases it.
    void* detach() noexcept { return std::exchange(slot_, nullptr); }
    static handle adopt(void* released) noexcept { return handle(static_cast<slot*>(released)); }
    // key() of a detached reference.
    static std::string_view detached_key(void* released) noexcept {
      return key_of(static_cast<slot*>(released));
    }

   private:
    friend class key_table;
    explicit handle(slot* adopted) noexcept : slot_(adopted) {}

    slot* slot_ = nullptr;
  };

  static constexpr std::size_t max_shards = 64;
  // The most a table reserves up front for its slot arrays; keys beyond what
  // fits live in heap slots (see the file comment).
  static constexpr std::size_t max_array_bytes = std::size_t{64} << 20;

  // shards: a power of two up to 64, or 0 to pick one from max_entries (at least
  // ~256 entries per shard so that the per-shard guarantee stays meaningful).
  key_table(std::size_t max_entries, factory make, std::size_t shards = 0)
      : make_(std::move(make)) {
    if (max_entries == 0 || !make_) {
      throw std::invalid_argument("key_table: max_entries must be positive and a factory given");
    }
    const std::size_t count = pick_shard_count(max_entries, shards);
    if (max_entries / count >= max_shard_capacity) {
      throw std::invalid_argument("key_table: max_entries too large");
    }
    shard_bits_ = static_cast<unsigned>(std::countr_zero(count));
    shards_.reserve(count);
    try {
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t capacity = max_entries / count + (i < max_entries % count);
        shards_.push_back(shard::create(capacity, max_array_bytes / count));
      }
    } catch (...) {
      for (shard* s : shards_) s->drop_anchor();
      throw;
    }
  }

  key_table(const key_table&) = delete;
  key_table& operator=(const key_table&) = delete;

  // Handles may outlive the table: each state goes when its last reference does,
  // each shard's slot array when its last pinned slot does.
  ~key_table() {
    for (shard* s : shards_) s->close();
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
    const place at = s.place_of(hash, shard_bits_);
    {
      std::lock_guard lock(s.spin);
      if (slot* found = s.use(at, key)) {
        acquire(found);
        return handle(found);
      }
    }
    return create(s, at, key);
  }

  // Whether the key has an entry; does not count as a use.
  bool contains(std::string_view key) const {
    const std::uint64_t hash = hash_(key);
    const shard& s = shard_for(hash);
    const place at = s.place_of(hash, shard_bits_);
    std::lock_guard lock(s.spin);
    return s.find(at, key) != nullptr;
  }

  std::size_t size() const {
    return sum([](const shard& s) { return s.size; });
  }
  std::uint64_t evictions() const {
    return sum([](const shard& s) { return s.evictions; });
  }
  std::size_t capacity() const {
    std::size_t total = 0;
    for (const shard* s : shards_) total += s->capacity;
    return total;
  }
  std::size_t min_shard_capacity() const { return shards_.back()->capacity; }
  std::size_t shard_count() const { return shards_.size(); }

  // Bytes per slot, and the longest key a slot holds without a side allocation.
  static constexpr std::size_t slot_bytes() { return stride; }
  static constexpr std::size_t inline_key_capacity() { return stride - key_offset; }

  // Approximate upper bound of the memory one entry holds, linear in the key
  // length: its share of the slot array (a slot and its fingerprint byte, plus
  // 1/32 spare), an index cell (kept between 1/4 and 1/2 full, counted as if
  // every key were away from home), and the key's bytes as if every key took a
  // side allocation (a length word and glibc malloc's 8-byte header, in 16-byte
  // granules). A key short enough to stay inline costs less than this by up to
  // its rounded length plus 16.
  static constexpr std::size_t bytes_per_entry(std::size_t key_length) {
    constexpr std::size_t granule = 16;
    const std::size_t slots = (stride + 1) + (stride + 1) / 32;
    const std::size_t side = (key_length + granule - 1) / granule * granule + granule;
    return slots + 4 * sizeof(cell) + side;
  }
  static constexpr std::size_t max_entries_for_bytes(std::size_t bytes, std::size_t key_length) {
    return bytes / bytes_per_entry(key_length);
  }

  // The longest probe run of the overflow index (cells read to find a present
  // key away from home), over all shards.
  std::size_t longest_probe_for_test() const {
    std::size_t longest = 0;
    for (const shard* s : shards_) {
      std::lock_guard lock(s->spin);
      for (std::size_t i = 0; i < s->index.size(); ++i) {
        if (s->index[i].target != 0) {
          longest = std::max(longest, ((i - s->index[i].tag) & s->mask()) + 1);
        }
      }
    }
    return longest;
  }
  // Entries living in their home windows, and in heap slots.
  std::size_t at_home_for_test() const {
    return sum([](const shard& s) { return s.size - s.index_used; });
  }
  std::size_t in_heap_for_test() const {
    return sum([](const shard& s) { return s.spill.size() - s.spill_free.size(); });
  }

 private:
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::size_t max_shard_capacity = std::size_t{1} << 30;  // slot numbers fit 32 bits
  // Slots per home window: as many fingerprints as one 64-bit word holds.
  static constexpr std::size_t home_width = 8;

  // Where a key may live: its home window, the fingerprint it carries there, and
  // its tag (the hash's low 32 bits, also its overflow index position).
  struct place {
    std::uint32_t tag;
    std::uint32_t home;  // first slot of the window
    std::uint8_t fingerprint;
  };

  enum slot_flag : std::uint8_t { on_heap = 1, indexed = 2, anchored = 4 };

  // A slot's header; the State follows at state_offset and the key at key_offset.
  // A plain aggregate (refs is reached through std::atomic_ref), so that the
  // zero-filled array needs no construction: zero is a free slot.
  struct slot {
    std::uint32_t refs;        // atomic: the table's reference while live, one per handle
    std::uint32_t number;      // position in the array, or array size + heap slot index
    std::uint32_t tag;         // low 32 bits of the key's hash; lock-guarded, like all below
    std::uint16_t key_length;  // inline bytes, or long_key
    std::uint8_t flags;        // slot_flag bits
    std::uint32_t newer;       // recency list, slot numbers, towards the front
    std::uint32_t older;
    std::uint64_t stamp;  // the shard's push count when last moved to the front
  };
  static_assert(sizeof(slot) == 32);

  static constexpr std::size_t round_up(std::size_t n, std::size_t to) {
    return (n + to - 1) / to * to;
  }
  static constexpr std::size_t min_inline_key = 40;
  static constexpr std::size_t state_offset = round_up(sizeof(slot), alignof(State));
  static constexpr std::size_t key_offset = state_offset + sizeof(State);
  static constexpr std::size_t slot_align = std::max<std::size_t>(64, alignof(State));
  static constexpr std::size_t stride = round_up(key_offset + min_inline_key, slot_align);
  static constexpr std::uint16_t long_key = std::numeric_limits<std::uint16_t>::max();
  static_assert(stride - key_offset < long_key);

  // A key longer than the slot holds: its length, then its bytes.
  struct long_key_block {
    std::size_t length;
    char* bytes() { return reinterpret_cast<char*>(this + 1); }
  };

  static State* state_of(slot* s) noexcept {
    return std::launder(reinterpret_cast<State*>(reinterpret_cast<char*>(s) + state_offset));
  }
  static char* key_area(slot* s) noexcept { return reinterpret_cast<char*>(s) + key_offset; }
  static long_key_block* long_key_of(slot* s) noexcept {
    long_key_block* block;
    std::memcpy(&block, key_area(s), sizeof block);
    return block;
  }
  static std::string_view key_of(slot* s) noexcept {
    if (s->key_length == long_key) {
      long_key_block* block = long_key_of(s);
      return {block->bytes(), block->length};
    }
    return {key_area(s), s->key_length};
  }
  static std::uint16_t length_code(std::string_view key) noexcept {
    return key.size() <= inline_key_capacity() ? static_cast<std::uint16_t>(key.size()) : long_key;
  }
  // Whether a live slot holds `key`.
  static bool holds(slot* s, std::string_view key) noexcept {
    return s->key_length == length_code(key) && same_key(s, key);
  }
  // Whether a live slot whose key length matched holds `key`.
  static bool same_key(slot* s, std::string_view key) noexcept {
    const char* p = key.data();
    const std::size_t n = key.size();
    const char* q = key_area(s);
    // Short keys (addresses) without a call or a branch per word: two
    // overlapping loads cover 8..16 bytes, two more 4..8.
    if (n - 8 <= 8) {
      return ((load8(p) ^ load8(q)) | (load8(p + n - 8) ^ load8(q + n - 8))) == 0;
    }
    if (n > inline_key_capacity()) {
      long_key_block* block = long_key_of(s);
      return block->length == n && std::memcmp(block->bytes(), p, n) == 0;
    }
    if (n >= 4 && n < 8) {
      return load4(p) == load4(q) && load4(p + n - 4) == load4(q + n - 4);
    }
    return std::memcmp(q, p, n) == 0;
  }
  static std::uint64_t load8(const char* p) noexcept {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static std::uint32_t load4(const char* p) noexcept {
    std::uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  // Copies the key into the slot, or into a side block the slot points to; the
  // slot's key_length is set when it is published. May throw std::bad_alloc
  // (a long key), before any change.
  static void write_key(slot* s, std::string_view key) {
    if (key.size() <= inline_key_capacity()) {
      std::memcpy(key_area(s), key.data(), key.size());
      return;
    }
    auto* block = static_cast<long_key_block*>(::operator new(sizeof(long_key_block) + key.size()));
    block->length = key.size();
    std::memcpy(block->bytes(), key.data(), key.size());
    std::memcpy(key_area(s), &block, sizeof block);
  }
  static void free_key(slot* s, std::uint16_t code) noexcept {
    if (code == long_key) ::operator delete(long_key_of(s));
  }

  static std::atomic_ref<std::uint32_t> refs_of(slot* s) noexcept {
    return std::atomic_ref<std::uint32_t>(s->refs);
  }
  static void acquire(slot* s) noexcept { refs_of(s).fetch_add(1, std::memory_order_relaxed); }
  // acq_rel: every holder's use of the state happens before its destruction.
  static void release(slot* s) noexcept {
    if (refs_of(s).fetch_sub(1, std::memory_order_acq_rel) == 1) dispose(s);
  }

  // The last reference is gone: destroy the state (no lock held) and free the slot.
  static void dispose(slot* s) noexcept {
    std::destroy_at(state_of(s));
    free_key(s, s->key_length);
    if ((s->flags & on_heap) != 0) {
      ::operator delete(s, std::align_val_t{slot_align});
      return;
    }
    shard* owner = shard::of(s);
    const bool was_anchored = (s->flags & anchored) != 0;
    owner->give_back(s);
    if (was_anchored) owner->drop_anchor();  // last: it may free the shard
  }

  struct cell {
    std::uint32_t tag = 0;
    std::uint32_t target = 0;  // slot number + 1; 0: empty
  };

  // One shard; alignas keeps two shards' locks off the same cache line. Heap
  // allocated, and freed by its last anchor: the table holds one, and so does
  // every slot of its array that the table let go of while a handle still
  // pinned it.
  struct alignas(64) shard {
    mutable detail::spin_lock spin;
    std::size_t capacity = 0;
    std::uint64_t promote_age = 1;  // ceil(capacity / 2)
    char* array = nullptr;          // array_slots slots, stride apart
    // One per array slot, then home_width - 1 zeros so that a window near the
    // end reads no further: the fingerprint of the key in the slot if that slot
    // is in the key's home window, else 0. Lock-guarded.
    std::uint8_t* fingerprints = nullptr;
    std::uint32_t array_slots = 0;
    std::uint64_t pushes = 0;
    std::uint64_t evictions = 0;
    std::size_t size = 0;
    std::uint32_t newest = none;
    std::uint32_t oldest = none;
    std::size_t index_used = 0;
    std::vector<cell> index = std::vector<cell>(16);  // power-of-two size, at most half full
    detail::free_slot_map free_slots;
    std::vector<slot*> spill;  // heap slots, numbered array_slots + i; null: number unused
    std::vector<std::uint32_t> spill_free;  // unused spill numbers; capacity >= spill's
    std::uint64_t inserts = 0;
    void* block = nullptr;  // the array's allocation
    std::size_t block_bytes = 0;
    std::atomic<std::size_t> anchors{1};
    // A slot freed without the lock, waiting to be marked free by the next
    // reserve(): spares the thread that destroyed an evicted state (every insert
    // into a full shard) a third locking.
    std::atomic<std::uint32_t> returned{none};

    shard(std::size_t cap, std::uint32_t slots) : capacity(cap), promote_age((cap + 1) / 2),
                                                  array_slots(slots), free_slots(slots) {}

    // The array gets capacity + 1/32 + 2 slots (spares for slots being built and
    // slots pinned after eviction), at most max_bytes of them.
    static shard* create(std::size_t capacity, std::size_t max_bytes) {
      std::size_t slots = capacity + capacity / 32 + 2;
      slots = std::min(slots, std::max<std::size_t>(max_bytes / stride, 2));
      auto* s = new shard(capacity, static_cast<std::uint32_t>(slots));
      // Room for a pointer back to the shard just before the first slot, and
      // for the fingerprints after the last.
      const std::size_t fingerprint_bytes = slots + home_width - 1;
      s->block_bytes = sizeof(shard*) + slot_align + slots * stride + fingerprint_bytes;
      s->block = detail::allocate_zeroed(s->block_bytes);
      if (s->block == nullptr) {
        delete s;
        throw std::bad_alloc();
      }
      const auto start = reinterpret_cast<std::uintptr_t>(s->block) + sizeof(shard*);
      s->array = reinterpret_cast<char*>(round_up(start, slot_align));
      std::memcpy(s->array - sizeof(shard*), &s, sizeof s);
      s->fingerprints = reinterpret_cast<std::uint8_t*>(s->array + slots * stride);
      return s;
    }
    static shard* of(slot* array_slot) noexcept {
      char* array = reinterpret_cast<char*>(array_slot) - std::size_t{array_slot->number} * stride;
      shard* s;
      std::memcpy(&s, array - sizeof s, sizeof s);
      return s;
    }
    ~shard() { detail::free_zeroed(block, block_bytes); }

    void drop_anchor() noexcept {
      if (anchors.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    // The table is going: drop its reference on every entry, then its anchor.
    void close() noexcept {
      std::size_t pinned = 0;
      {
        std::lock_guard lock(spin);
        for (std::uint32_t n = newest; n != none; n = slot_at(n)->older) {
          slot* e = slot_at(n);
          if ((e->flags & on_heap) == 0 && refs_of(e).load(std::memory_order_acquire) != 1) {
            e->flags |= anchored;
            ++pinned;
          }
        }
        anchors.fetch_add(pinned, std::memory_order_relaxed);
      }
      // Nothing else walks or changes the list now; releasing may free an entry,
      // so read its successor first.
      for (std::uint32_t n = newest; n != none;) {
        slot* e = slot_at(n);
        n = e->older;
        release(e);
      }
      drop_anchor();
    }

    std::size_t mask() const { return index.size() - 1; }

    place place_of(std::uint64_t hash, unsigned shard_bits) const {
      // The shard took the top bits; the home comes from the bits below them,
      // by multiply-shift range reduction onto the slots. The fingerprint is 7
      // bits of the tag with the top bit set: never 0 (no fingerprint), and
      // see candidates().
      __extension__ using wide = unsigned __int128;
      const auto home = static_cast<std::uint32_t>((wide{hash << shard_bits} * array_slots) >> 64);
      return {static_cast<std::uint32_t>(hash), home,
              static_cast<std::uint8_t>(0x80 | (hash >> 16))};
    }

    slot* array_slot(std::size_t n) const {
      return reinterpret_cast<slot*>(array + n * stride);
    }
    slot* slot_at(std::uint32_t n) const {
      return n < array_slots ? array_slot(n) : spill[n - array_slots];
    }

    // The slots of a home window whose fingerprint is `fingerprint`, as the top
    // bit of their byte of the window's word (lowest slot lowest): the zero
    // bytes of the word xor the fingerprint in every byte, found without a
    // loop. A borrow may also flag a byte above a true match if it holds
    // fingerprint ^ 1; that has the top bit set too, so every candidate holds
    // a live key (and the key comparison rejects a wrong one).
    static std::uint64_t candidates(std::uint64_t window, std::uint8_t fingerprint) {
      constexpr std::uint64_t ones = 0x0101010101010101;
      const std::uint64_t x = window ^ (fingerprint * ones);
      return (x - ones) & ~x & (ones << 7);
    }
    static std::size_t first_candidate(std::uint64_t matches) {
      return static_cast<std::size_t>(std::countr_zero(matches)) / 8;
    }

    slot* find(place at, std::string_view key) const {
      // The window's first slot, where ~3/4 of the keys of a half-full table
      // live, and the index cell, which most keys of a table a spray went
      // through need, are asked for along with the fingerprints: when other
      // processes have flushed the fingerprints from the cache, such a key
      // still costs no extra round trip to memory.
      prefetch_lines(array_slot(at.home), 0);
      if (index_used != 0) __builtin_prefetch(&index[at.tag & mask()]);
      std::uint64_t window;
      std::memcpy(&window, fingerprints + at.home, sizeof window);
      const std::uint64_t matches = candidates(window, at.fingerprint);
      if (matches != 0) {
        slot* s = array_slot(at.home + first_candidate(matches));
        prefetch_lines(s, 64);  // so that the slot's lines all arrive together
        if (holds(s, key)) return s;
      }
      return find_elsewhere(at, key, matches & (matches - 1));
    }
    static void prefetch_lines(slot* s, std::size_t from) {
      for (std::size_t offset = from; offset < stride; offset += 64) {
        __builtin_prefetch(reinterpret_cast<char*>(s) + offset);
      }
    }

    // The rest of find(), out of line to keep the hit path short: the window's
    // other candidates (after a fingerprint collision), then the overflow index.
    [[gnu::noinline]] slot* find_elsewhere(place at, std::string_view key,
                                           std::uint64_t matches) const {
      for (; matches != 0; matches &= matches - 1) {
        slot* s = array_slot(at.home + first_candidate(matches));
        if (holds(s, key)) return s;
      }
      if (index_used == 0) return nullptr;
      for (std::size_t i = at.tag & mask();; i = (i + 1) & mask()) {
        const cell& c = index[i];
        if (c.target == 0) return nullptr;
        if (c.tag == at.tag) {
          slot* s = slot_at(c.target - 1);
          if (holds(s, key)) return s;
        }
      }
    }

    // find() that counts as a use: lazy promotion, see the file comment.
    slot* use(place at, std::string_view key) {
      slot* found = find(at, key);
      if (found != nullptr && pushes - found->stamp >= promote_age) promote(found);
      return found;
    }
    // Out of line: hits on a key need it at most once per ceil(C/2) pushes.
    [[gnu::noinline]] void promote(slot* e) {
      unlink(e);
      push_front(e);
    }

    // Frees an array slot whose state is destroyed; called without the lock.
    void give_back(slot* s) noexcept {
      std::uint32_t empty = none;
      if (returned.compare_exchange_strong(empty, s->number, std::memory_order_release,
                                           std::memory_order_relaxed)) {
        return;
      }
      std::lock_guard lock(spin);
      free_slot(s);
    }

    // A free array slot for a new key, null if none: the first from the start
    // of its home window on (wrapping), so one in the window if there is one.
    slot* reserve(place at) {
      if (returned.load(std::memory_order_relaxed) != none) {
        const std::uint32_t n = returned.exchange(none, std::memory_order_acquire);
        if (n != none) free_slot(array_slot(n));
      }
      const std::size_t n = free_slots.find_from(at.home);
      if (n == detail::free_slot_map::none) return nullptr;
      free_slots.clear(n);
      slot* s = array_slot(n);
      *s = slot{};
      s->number = static_cast<std::uint32_t>(n);
      return s;
    }

    void free_slot(slot* s) {
      s->flags = 0;
      free_slots.set(s->number);
    }

    // Makes room for `fresh` in the index and, for a heap slot, numbers it. May
    // throw std::bad_alloc, before any visible change.
    void prepare(slot* fresh, place at) {
      if (!at_home(fresh, at) && 2 * (index_used + 1) > index.size()) rehash(index.size() * 2);
      if ((fresh->flags & on_heap) == 0) return;
      std::size_t i;
      if (!spill_free.empty()) {
        i = spill_free.back();
        spill_free.pop_back();
      } else {
        if (spill.size() == spill.capacity()) spill.reserve(2 * spill.size() + 8);
        spill_free.reserve(spill.capacity());  // so that eviction never allocates
        i = spill.size();
        spill.push_back(nullptr);
      }
      spill[i] = fresh;
      fresh->number = static_cast<std::uint32_t>(array_slots + i);
    }

    static bool at_home(const slot* s, place at) {
      return (s->flags & on_heap) == 0 && s->number - at.home < home_width;
    }

    // Publishes a prepared slot, adopting one of its references, and returns the
    // entry evicted to make room, or null: the caller releases the table's
    // reference on it after unlocking.
    slot* insert(slot* fresh, place at, std::uint16_t key_code) {
      slot* victim = size == capacity ? evict_oldest() : nullptr;
      fresh->tag = at.tag;
      fresh->key_length = key_code;
      if (at_home(fresh, at)) {
        fingerprints[fresh->number] = at.fingerprint;
      } else {
        fresh->flags |= indexed;
        place_cell({at.tag, fresh->number + 1});
        ++index_used;
      }
      ++size;
      ++inserts;
      push_front(fresh);
      return victim;
    }

    void place_cell(cell c) {
      std::size_t i = c.tag & mask();
      while (index[i].target != 0) i = (i + 1) & mask();
      index[i] = c;
    }

    void rehash(std::size_t cells) {
      std::vector<cell> old = std::exchange(index, std::vector<cell>(cells));
      for (const cell& c : old) {
        if (c.target != 0) place_cell(c);
      }
    }

    slot* evict_oldest() {
      slot* victim = slot_at(oldest);
      unlink(victim);
      if ((victim->flags & indexed) != 0) {
        std::size_t i = victim->tag & mask();
        while (index[i].target != victim->number + 1) i = (i + 1) & mask();
        erase_cell(i);
        --index_used;
      } else {
        fingerprints[victim->number] = 0;
      }
      if ((victim->flags & on_heap) != 0) {
        spill[victim->number - array_slots] = nullptr;
        spill_free.push_back(victim->number - array_slots);  // within capacity: no throw
      } else if (refs_of(victim).load(std::memory_order_acquire) != 1) {
        // A handle pins it: its last holder will free the slot, maybe after the
        // table is gone, so the array must stay until then.
        victim->flags |= anchored;
        anchors.fetch_add(1, std::memory_order_relaxed);
      }
      --size;
      ++evictions;
      return victim;
    }

    // Backward-shift deletion: pull later cells of the probe run into the hole
    // unless that would move them before their home cell.
    void erase_cell(std::size_t hole) {
      for (std::size_t next = (hole + 1) & mask(); index[next].target != 0;
           next = (next + 1) & mask()) {
        const std::size_t home = index[next].tag & mask();
        if (((next - home) & mask()) >= ((next - hole) & mask())) {
          index[hole] = index[next];
          hole = next;
        }
      }
      index[hole] = {};
    }

    void unlink(slot* e) {
      (e->newer == none ? newest : slot_at(e->newer)->older) = e->older;
      (e->older == none ? oldest : slot_at(e->older)->newer) = e->newer;
    }
    void push_front(slot* e) {
      e->newer = none;
      e->older = newest;
      (newest == none ? oldest : slot_at(newest)->newer) = e->number;
      newest = e->number;
      e->stamp = ++pushes;
    }
  };

  // A slot this thread is filling and has not published: discarded (state and
  // key destroyed as far as built, slot freed) unless published.
  class pending {
   public:
    pending(shard& owner, slot* s) noexcept : owner_(owner), slot_(s) {}
    pending(const pending&) = delete;
    pending& operator=(const pending&) = delete;
    ~pending() {
      if (slot_ == nullptr) return;
      if (has_state_) std::destroy_at(state_of(slot_));
      if (has_key_) free_key(slot_, key_code_);
      if ((slot_->flags & on_heap) != 0) {
        ::operator delete(slot_, std::align_val_t{slot_align});
      } else {
        owner_.give_back(slot_);
      }
    }

    slot* get() const noexcept { return slot_; }
    void built_key(std::uint16_t code) noexcept {
      has_key_ = true;
      key_code_ = code;
    }
    void built_state() noexcept { has_state_ = true; }
    slot* publish() noexcept { return std::exchange(slot_, nullptr); }

   private:
    shard& owner_;
    slot* slot_;
    bool has_key_ = false;
    bool has_state_ = false;
    std::uint16_t key_code_ = 0;
  };

  static slot* new_heap_slot() {
    void* memory = ::operator new(stride, std::align_val_t{slot_align});
    slot* s = ::new (memory) slot{};
    s->flags = on_heap;
    return s;
  }

  // The miss path: take a slot, build the key and state in it unlocked, then
  // publish it unless another thread published the key meanwhile. The victim
  // and a lost race's slot are released after unlocking, so no state destructor
  // runs under the lock. Out of line (GCC would inline it into get(), its one
  // caller), so that get() stays small enough to inline into with().
  [[gnu::noinline]] handle create(shard& s, place at, std::string_view key) {
    slot* taken;
    std::uint64_t inserts_seen;
    {
      std::lock_guard lock(s.spin);
      if (slot* found = s.use(at, key)) {
        acquire(found);
        return handle(found);
      }
      taken = s.reserve(at);
      inserts_seen = s.inserts;
    }
    pending fresh(s, taken != nullptr ? taken : new_heap_slot());
    slot* const e = fresh.get();
    const std::uint16_t key_code = length_code(key);
    write_key(e, key);
    fresh.built_key(key_code);
    ::new (static_cast<void*>(state_of(e))) State(make_(key));
    fresh.built_state();
    e->refs = 2;  // the table's and the caller's; published by the unlock below

    slot* victim = nullptr;
    slot* found;
    {
      std::lock_guard lock(s.spin);
      // Only an insert into this shard can have added the key meanwhile.
      found = s.inserts == inserts_seen ? nullptr : s.use(at, key);
      if (found != nullptr) {
        acquire(found);
      } else {
        s.prepare(e, at);
        victim = s.insert(fresh.publish(), at, key_code);
        found = e;
      }
    }
    if (victim != nullptr) release(victim);
    return handle(found);  // ~pending discards e if it lost the race
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

  // Shards take the hash's high bits, home windows the next ones, index cells,
  // tags and fingerprints its low bits.
  shard& shard_for(std::uint64_t hash) { return *shards_[shard_index(hash)]; }
  const shard& shard_for(std::uint64_t hash) const { return *shards_[shard_index(hash)]; }
  // Two shifts, so that a single shard (no bits; a shift by 64 is undefined)
  // needs no branch.
  std::size_t shard_index(std::uint64_t hash) const {
    return static_cast<std::size_t>((hash >> 1) >> (63 - shard_bits_));
  }

  template <class Field>
  auto sum(Field field) const {
    decltype(field(*shards_.front())) total = 0;
    for (const shard* s : shards_) {
      std::lock_guard lock(s->spin);
      total += field(*s);
    }
    return total;
  }

  factory make_;
  detail::keyed_hash hash_;
  std::vector<shard*> shards_;
  unsigned shard_bits_ = 0;
};

}  // namespace bulwark::core
