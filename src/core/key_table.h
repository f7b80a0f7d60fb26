// key_table: per-key state (a limiter per client IP, a connection count per IP...)
// with a hard cap on the number of entries and least-recently-used eviction, so a
// spray of a million distinct keys stays inside the cap while hot keys stay.
//
// The cap is in ENTRIES, exact: size() <= max_entries at every moment. Memory is
// about max_entries * bytes_per_entry(key length); max_entries_for_bytes() turns
// a byte budget into an entry cap. Keys are stored as given, so callers bound the
// length of keys built from client input.
//
// Sharding: keys go to one of up to 64 shards by hash (high bits); each shard has
// its own mutex, an open-addressing index (linear probing, low bits of the hash,
// backward-shift deletion) and an LRU list, both over a slot array sized at most
// the shard's capacity. Eviction is exact LRU within a shard, which approximates
// a global LRU: a key used at least once every min_shard_capacity() - 1 new keys
// of its shard is never evicted.
//
// Why a lock: a find-or-insert that also reorders an LRU list is several dependent
// writes; a lock-free version would need a concurrent hash map plus a lock-free
// list, far more code for a critical section of ~20 ns. With 64 shards two threads
// meet on the same mutex rarely. The limiter decision itself runs OUTSIDE the
// lock: with() copies the entry's shared_ptr under the lock and calls fn after
// unlocking, so a concurrent eviction only drops the table's reference and the
// state stays alive until fn returns (no use after free, no epoch scheme needed).
// The price is one atomic increment/decrement pair per call. A state evicted while
// in use lives on for its holder, but a new request for that key starts fresh.
//
// The factory runs under the shard lock: keep it cheap and non-blocking.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::core {

template <class State>
class key_table {
 public:
  using factory = std::function<std::shared_ptr<State>(std::string_view key)>;

  static constexpr std::size_t max_shards = 64;

  // shards: a power of two up to 64, or 0 to pick one from max_entries (at least
  // ~256 entries per shard so that per-shard LRU stays close to global LRU).
  key_table(std::size_t max_entries, factory make, std::size_t shards = 0)
      : make_(std::move(make)), shards_(pick_shard_count(max_entries, shards)) {
    if (max_entries == 0 || !make_) {
      throw std::invalid_argument("key_table: max_entries must be positive and a factory given");
    }
    shard_bits_ = static_cast<unsigned>(std::countr_zero(shards_.size()));
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      shards_[i].capacity = max_entries / shards_.size() + (i < max_entries % shards_.size());
    }
  }

  key_table(const key_table&) = delete;
  key_table& operator=(const key_table&) = delete;

  // Runs fn(State&) on the key's state, creating it if absent, and returns fn's
  // result. fn runs without any table lock held.
  template <class Fn>
  decltype(auto) with(std::string_view key, Fn&& fn) {
    const std::shared_ptr<State> state = get(key);
    return std::invoke(std::forward<Fn>(fn), *state);
  }

  // The key's state, created if absent; marks the key most recently used.
  std::shared_ptr<State> get(std::string_view key) {
    const std::uint64_t hash = hash_of(key);
    shard& s = shard_for(hash);
    std::lock_guard lock(s.mutex);
    return s.find_or_insert(key, static_cast<std::uint32_t>(hash), make_);
  }

  // Whether the key has an entry; does not count as a use.
  bool contains(std::string_view key) const {
    const std::uint64_t hash = hash_of(key);
    const shard& s = shard_for(hash);
    std::lock_guard lock(s.mutex);
    return s.find(key, static_cast<std::uint32_t>(hash)).slot != shard::none;
  }

  std::size_t size() const {
    return sum([](const shard& s) { return s.entries.size(); });
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

  // Approximate upper bound of the memory one entry holds: its slot, LRU links,
  // index cells (load factor in (1/4, 1/2]), the state with its shared_ptr
  // control block, and the key's heap buffer when it does not fit in the string.
  static constexpr std::size_t bytes_per_entry(std::size_t key_length) {
    constexpr std::size_t allocation_overhead = 16;
    const std::size_t key_heap = key_length < sizeof(std::string) / 2
                                     ? 0
                                     : key_length + 1 + allocation_overhead;
    return sizeof(entry) + sizeof(link) + 4 * sizeof(std::uint64_t) + sizeof(State) +
           2 * sizeof(void*) + 2 * sizeof(long) + allocation_overhead + key_heap;
  }
  static constexpr std::size_t max_entries_for_bytes(std::size_t bytes, std::size_t key_length) {
    return bytes / bytes_per_entry(key_length);
  }

 private:
  struct entry {
    std::string key;
    std::shared_ptr<State> state;
    std::uint32_t tag = 0;  // low 32 bits of the key's hash; home cell = tag & mask
  };
  struct link {
    std::uint32_t prev;
    std::uint32_t next;
  };

  // One shard; alignas keeps two shards' mutexes off the same cache line.
  struct alignas(64) shard {
    static constexpr std::uint32_t none = UINT32_MAX;
    struct lookup {
      std::uint32_t slot;  // none when absent
      std::size_t cell;    // the key's cell, or the empty cell ending the probe
    };

    mutable std::mutex mutex;
    std::size_t capacity = 0;
    std::uint64_t evictions = 0;
    std::vector<entry> entries;  // slots; only grows, up to capacity
    std::vector<link> links;     // LRU list over slots, parallel to entries
    // Cell: 0 when empty, else (tag << 32) | (slot + 1). Power-of-two size.
    std::vector<std::uint64_t> index = std::vector<std::uint64_t>(16, 0);
    std::uint32_t head = none;  // most recently used
    std::uint32_t tail = none;  // least recently used

    std::size_t mask() const { return index.size() - 1; }

    lookup find(std::string_view key, std::uint32_t tag) const {
      for (std::size_t cell = tag & mask();; cell = (cell + 1) & mask()) {
        const std::uint64_t c = index[cell];
        if (c == 0) return {none, cell};
        const auto slot = static_cast<std::uint32_t>(c) - 1;
        if (static_cast<std::uint32_t>(c >> 32) == tag && entries[slot].key == key) {
          return {slot, cell};
        }
      }
    }

    std::shared_ptr<State> find_or_insert(std::string_view key, std::uint32_t tag,
                                          const factory& make) {
      const lookup found = find(key, tag);
      if (found.slot != none) {
        touch(found.slot);
        return entries[found.slot].state;
      }
      // Everything that may throw happens before the table changes.
      entry fresh{std::string(key), make(key), tag};
      if (!fresh.state) throw std::logic_error("key_table: factory returned null");
      if (entries.size() < capacity) reserve_one();
      std::uint32_t slot;
      if (entries.size() < capacity) {
        slot = static_cast<std::uint32_t>(entries.size());
        entries.push_back(std::move(fresh));
        links.push_back({none, none});
      } else {
        slot = evict_tail();
        entries[slot] = std::move(fresh);
      }
      index[probe_empty(tag)] = (std::uint64_t{tag} << 32) | (slot + 1);
      push_front(slot);
      return entries[slot].state;
    }

    // Grows the slot arrays geometrically (capped at capacity) and keeps the
    // index at most half full, so the push_backs after it cannot throw.
    void reserve_one() {
      if (entries.size() == entries.capacity()) {
        const std::size_t grown = std::min(capacity, std::max<std::size_t>(16, entries.size() * 2));
        entries.reserve(grown);
        links.reserve(grown);
      }
      if (2 * (entries.size() + 1) > index.size()) rehash(index.size() * 2);
    }

    void rehash(std::size_t cells) {
      index.assign(cells, 0);
      for (std::uint32_t slot = 0; slot < entries.size(); ++slot) {
        index[probe_empty(entries[slot].tag)] = (std::uint64_t{entries[slot].tag} << 32) | (slot + 1);
      }
    }

    std::size_t probe_empty(std::uint32_t tag) const {
      std::size_t cell = tag & mask();
      while (index[cell] != 0) cell = (cell + 1) & mask();
      return cell;
    }

    std::uint32_t evict_tail() {
      const std::uint32_t victim = tail;
      unlink(victim);
      std::size_t cell = entries[victim].tag & mask();
      while (static_cast<std::uint32_t>(index[cell]) != victim + 1) cell = (cell + 1) & mask();
      erase_cell(cell);
      ++evictions;
      return victim;
    }

    // Backward-shift deletion: pull later cells of the probe run into the hole
    // unless that would move them before their home cell.
    void erase_cell(std::size_t hole) {
      for (std::size_t next = (hole + 1) & mask(); index[next] != 0; next = (next + 1) & mask()) {
        const std::size_t home = static_cast<std::uint32_t>(index[next] >> 32) & mask();
        if (((next - home) & mask()) >= ((next - hole) & mask())) {
          index[hole] = index[next];
          hole = next;
        }
      }
      index[hole] = 0;
    }

    void touch(std::uint32_t slot) {
      if (slot == head) return;
      unlink(slot);
      push_front(slot);
    }
    void unlink(std::uint32_t slot) {
      const link l = links[slot];
      (l.prev == none ? head : links[l.prev].next) = l.next;
      (l.next == none ? tail : links[l.next].prev) = l.prev;
    }
    void push_front(std::uint32_t slot) {
      links[slot] = {none, head};
      (head == none ? tail : links[head].prev) = slot;
      head = slot;
    }
  };

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

  static std::uint64_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

  shard& shard_for(std::uint64_t hash) { return shards_[shard_index(hash)]; }
  const shard& shard_for(std::uint64_t hash) const { return shards_[shard_index(hash)]; }
  std::size_t shard_index(std::uint64_t hash) const {
    return shard_bits_ == 0 ? 0 : static_cast<std::size_t>(hash >> (64 - shard_bits_));
  }

  template <class Field>
  auto sum(Field field) const {
    decltype(field(shards_.front())) total = 0;
    for (const shard& s : shards_) {
      std::lock_guard lock(s.mutex);
      total += field(s);
    }
    return total;
  }

  factory make_;
  std::vector<shard> shards_;
  unsigned shard_bits_ = 0;
};

}  // namespace bulwark::core
