// key_table: the recency guarantee (the most recent half of a shard always
// stays, old keys leave), the entry cap under a spray of a million distinct keys
// with a hot key surviving it, state lifetime across eviction (also when pinned
// slots use up the spare ones, and after the table is gone), the slot layout
// (home windows, crowded windows whose fingerprints collide, long keys, heap
// slots past the array bound), the keyed hash against keys that all collide
// under std::hash, and multi-threaded insert/lookup/evict stresses that check
// no state is ever handed to the wrong key.
#include "core/key_table.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/token_bucket.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

struct counter {
  explicit counter(std::string_view k) : key(k) {}
  std::string key;
  std::atomic<std::uint64_t> uses{0};
};

key_table<counter>::factory counting_factory(std::atomic<int>* created = nullptr) {
  return [created](std::string_view key) {
    if (created != nullptr) ++*created;
    return counter(key);
  };
}

// prefix + n, appended rather than with operator+ (which trips a false
// -Wrestrict in GCC 12 at -O3).
std::string named(std::string_view prefix, std::uint64_t n) {
  std::string key(prefix);
  key += std::to_string(n);
  return key;
}

// A distinct dotted quad per i < 200 * 256^3.
std::string ip_key(std::uint64_t i) {
  std::string key = std::to_string(10 + i % 200);
  for (const std::uint64_t octet : {i / 200 % 256, i / 51200 % 256, i / 13107200}) {
    key += '.';
    key += std::to_string(octet);
  }
  return key;
}

TEST(KeyTableTest, SameKeySameStateAndTheFactoryRunsOncePerKey) {
  std::atomic<int> created{0};
  key_table<counter> table(100, counting_factory(&created));
  const auto a = table.get("a");
  EXPECT_EQ(table.get("a"), a);
  EXPECT_NE(table.get("b"), a);
  EXPECT_EQ(table.with("a", [](counter& c) { return ++c.uses; }), 1u);
  EXPECT_EQ(table.with("a", [](counter& c) { return ++c.uses; }), 2u);
  EXPECT_EQ(created.load(), 2);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_TRUE(table.contains("b"));
  EXPECT_FALSE(table.contains("c"));
}

TEST(KeyTableTest, EvictsTheOldestAndMovesAKeyUsedInTheOlderHalfToTheFront) {
  key_table<counter> table(4, counting_factory(), 1);
  for (const char* k : {"a", "b", "c", "d"}) table.get(k);
  table.get("a");  // three pushes old, the promotion age is two: moves to the front
  EXPECT_TRUE(table.contains("b"));  // contains() is not a use
  table.get("e");
  EXPECT_FALSE(table.contains("b"));
  table.get("f");
  EXPECT_FALSE(table.contains("c"));
  for (const char* k : {"a", "d", "e", "f"}) EXPECT_TRUE(table.contains(k)) << k;
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.evictions(), 2u);
}

// The documented guarantee, checked against the table's own history at many
// points of a random sequence (a hot set plus a wide tail, so that a table without
// promotion, i.e. FIFO, fails it): the floor(C/2) most recently used keys are
// present, and a present key saw fewer than C insertions after its last use.
// Also exercises the index: probe runs, rehash, backward-shift deletion.
TEST(KeyTableTest, SingleShardKeepsTheMostRecentHalfAndDropsOldKeys) {
  constexpr std::size_t cap = 1000;
  key_table<counter> table(cap, counting_factory(), 1);
  struct history {
    std::uint64_t last_use = 0;
    std::uint64_t insertions_before = 0;  // insertions up to and including its last use
  };
  std::unordered_map<std::string, history> seen;
  std::uint64_t insertions = 0;
  std::mt19937_64 rng(11);
  for (std::uint64_t op = 1; op <= 50'000; ++op) {
    const std::string key = named("k", rng() % 2 == 0 ? rng() % 100 : rng() % 20'000);
    if (!table.contains(key)) ++insertions;
    table.get(key);
    seen[key] = {op, insertions};
    if (op % 1'000 != 0) continue;

    std::vector<std::pair<std::uint64_t, const std::string*>> by_recency;
    for (const auto& [k, h] : seen) by_recency.emplace_back(h.last_use, &k);
    std::sort(by_recency.rbegin(), by_recency.rend());
    for (std::size_t i = 0; i < cap / 2; ++i) {
      ASSERT_TRUE(table.contains(*by_recency[i].second)) << "rank " << i << " at op " << op;
    }
    for (const auto& [k, h] : seen) {
      if (table.contains(k)) {
        ASSERT_LT(insertions - h.insertions_before, cap) << k;
      }
    }
    ASSERT_EQ(table.size(), std::min<std::size_t>(cap, insertions));
    ASSERT_EQ(table.evictions(), insertions - table.size());
  }
}

TEST(KeyTableTest, AMillionKeySprayStaysInsideTheCapAndTheHotKeyKeepsItsState) {
  constexpr std::size_t cap = 20'000;
  key_table<token_bucket> table(cap, [](std::string_view) {
    return token_bucket(rate_limit_spec{5, 60s, 5});
  });
  const time_point now{std::chrono::seconds{1000}};
  const auto hot = table.get("203.0.113.7");
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(hot->try_acquire(now).allowed);
  for (std::uint64_t i = 0; i < 1'000'000; ++i) {
    table.with(ip_key(i), [&](token_bucket& b) { return b.try_acquire(now); });
    if (i % 100 == 0) {
      ASSERT_TRUE(table.with("203.0.113.7", [&](token_bucket& b) { return b.tokens(now) == 2; }));
    }
    if (i % 50'000 == 0) {
      ASSERT_LE(table.size(), cap);
    }
  }
  EXPECT_EQ(table.size(), cap);
  EXPECT_EQ(table.evictions(), 1'000'001u - cap);
  EXPECT_EQ(table.get("203.0.113.7"), hot);
  // The spray's last keys are still present, its first keys long gone.
  EXPECT_TRUE(table.contains(ip_key(999'999)));
  EXPECT_FALSE(table.contains(ip_key(0)));
}

TEST(KeyTableTest, AnEvictedStateStaysValidForItsHolderAndTheKeyStartsFresh) {
  key_table<counter> table(2, counting_factory(), 1);
  const auto held = table.get("x");
  held->uses = 41;
  table.get("y");
  table.get("z");  // evicts x
  EXPECT_FALSE(table.contains("x"));
  EXPECT_EQ(++held->uses, 42u);
  EXPECT_EQ(held->key, "x");
  EXPECT_EQ(table.get("x")->uses.load(), 0u);
}

TEST(KeyTableTest, AHandleOutlivesItsTable) {
  key_table<counter>::handle kept;
  {
    key_table<counter> table(8, counting_factory());
    kept = table.get("x");
    const auto copy = kept;
    EXPECT_EQ(copy, kept);
  }
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->key, "x");
  EXPECT_EQ(++kept->uses, 1u);
}

TEST(KeyTableTest, AFactoryThatThrowsLeavesTheTableUnchanged) {
  key_table<counter> table(
      2,
      [](std::string_view key) {
        if (key == "bad") throw std::runtime_error("no state for you");
        return counter(key);
      },
      1);
  table.get("a");
  table.get("b");
  EXPECT_THROW(table.get("bad"), std::runtime_error);
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.evictions(), 0u);
  EXPECT_TRUE(table.contains("a"));
  EXPECT_TRUE(table.contains("b"));
  EXPECT_FALSE(table.contains("bad"));
}

TEST(KeyTableTest, CapacityIsSplitExactlyAcrossShards) {
  key_table<counter> table(100'003, counting_factory());
  EXPECT_EQ(table.capacity(), 100'003u);
  EXPECT_EQ(table.shard_count(), 64u);
  EXPECT_EQ(table.min_shard_capacity(), 100'003u / 64);
  EXPECT_EQ(key_table<counter>(10, counting_factory()).shard_count(), 1u);
  EXPECT_THROW(key_table<counter>(10, counting_factory(), 3), std::invalid_argument);
  EXPECT_THROW(key_table<counter>(0, counting_factory()), std::invalid_argument);
}

// Resident memory of this process (/proc/self/statm), in bytes.
std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  std::size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// The slot arrays are reserved at construction (64 MiB here) but a page is
// backed only once a key is written to it, so an idle table costs next to
// nothing, and one key costs a page.
TEST(KeyTableTest, SlotArraysBecomeResidentOnlyWhereKeysLive) {
  const std::size_t before = resident_bytes();
  key_table<token_bucket> table(1'000'000, [](std::string_view) {
    return token_bucket(rate_limit_spec{5, 60s, 5});
  });
  ASSERT_TRUE(table.get("203.0.113.7")->try_acquire(time_point{std::chrono::seconds{1000}}).allowed);
  EXPECT_LT(resident_bytes() - std::min(before, resident_bytes()), std::size_t{8} << 20);
}

TEST(KeyTableTest, BytesPerEntryCountsTheStateTheKeyAndTheIndex) {
  using table = key_table<token_bucket>;
  EXPECT_EQ(table::bytes_per_entry(15 + 160), table::bytes_per_entry(15) + 160);
  EXPECT_LE(table::bytes_per_entry(15) - table::bytes_per_entry(7), 16u);
  EXPECT_GT(table::bytes_per_entry(15), sizeof(token_bucket) + 15 + 4 * 16);
  EXPECT_EQ(table::max_entries_for_bytes(table::bytes_per_entry(15) * 1000, 15), 1000u);
}

TEST(KeyTableTest, ATokenBucketSlotIsTwoCacheLinesAndHoldsAnIpv6AddressInline) {
  using table = key_table<token_bucket>;
  EXPECT_EQ(table::slot_bytes(), 128u);
  EXPECT_GE(table::inline_key_capacity(), std::string_view("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").size());
  EXPECT_EQ(table::slot_bytes() % 64, 0u);
}

// One memory access per hit needs the key in its home window: in a half-full
// table all but ~0.5% of the keys are (the rest take another free slot and an
// index cell); a placement that ignored homes would put ~2.5% there (8 of the
// ~320 slots of a shard).
TEST(KeyTableTest, NearlyAllKeysOfAHalfFullTableLiveInTheirHomeWindows) {
  key_table<counter> table(20'000, counting_factory());
  for (std::uint64_t i = 0; i < 10'000; ++i) table.get(ip_key(i));
  EXPECT_EQ(table.size(), 10'000u);
  EXPECT_GT(table.at_home_for_test(), 9'800u);
  EXPECT_EQ(table.in_heap_for_test(), 0u);
  for (std::uint64_t i = 0; i < 10'000; ++i) ASSERT_EQ(table.get(ip_key(i))->key, ip_key(i));
}

// 24 keys in 26 slots: each 8-slot window holds ~7 of them, so fingerprint
// collisions (a second candidate in the window, ~5% of lookups), windows that
// run past the array's end, and keys that find their window full and live
// behind an index cell all occur many times; every lookup must still find its
// own state.
TEST(KeyTableTest, CrowdedWindowsStillMapEveryKeyToItsOwnState) {
  key_table<counter> table(24, counting_factory(), 1);
  std::mt19937_64 rng(5);
  for (int i = 0; i < 50'000; ++i) {
    const std::string key = named("w", rng() % 40);
    const auto h = table.get(key);
    ASSERT_EQ(h->key, key);
    ASSERT_EQ(table.get(key), h);  // found again, not created twice
    ASSERT_FALSE(table.contains(named("w", rng() % 40 + 40)));
  }
  EXPECT_EQ(table.size(), 24u);
  EXPECT_LT(table.at_home_for_test(), table.size());  // some keys live behind index cells
}

// Keys around the inline capacity, empty, and far longer (a side allocation),
// through insertion, lookup and eviction.
TEST(KeyTableTest, KeysOfEveryLengthAroundTheInlineCapacityKeepTheirOwnState) {
  const std::size_t inline_capacity = key_table<counter>::inline_key_capacity();
  std::vector<std::string> keys{""};
  for (std::size_t length = inline_capacity - 2; length <= inline_capacity + 2; ++length) {
    keys.emplace_back(length, 'k');
    keys.emplace_back(length, 'q');
  }
  keys.emplace_back(70'000, 'x');  // longer than a 16-bit length
  keys.emplace_back(70'000, 'y');
  key_table<counter> table(keys.size(), counting_factory(), 1);
  for (const std::string& k : keys) table.get(k)->uses = k.size() + 1;
  EXPECT_EQ(table.size(), keys.size());
  for (const std::string& k : keys) {
    const auto h = table.get(k);
    EXPECT_EQ(h->key, k);
    EXPECT_EQ(h->uses.load(), k.size() + 1);
  }
  // A spray of new keys evicts all of them, long ones included.
  for (std::uint64_t i = 0; i < 3 * keys.size(); ++i) table.get(named("spray-", i));
  for (const std::string& k : keys) EXPECT_FALSE(table.contains(k)) << k.size();
  EXPECT_EQ(table.size(), keys.size());
}

// Evicted states that handles still pin keep their slots, so they can use up
// the array's spares: new keys then go to heap slots, and everything still maps
// key to state; once released, the slots are reused.
TEST(KeyTableTest, PinnedEvictedSlotsBeyondTheSparesPushNewKeysToTheHeap) {
  key_table<counter> table(4, counting_factory(), 1);
  std::vector<key_table<counter>::handle> pinned;
  for (std::uint64_t i = 0; i < 40; ++i) {
    pinned.push_back(table.get(named("k", i)));
    pinned.back()->uses = i;
  }
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.evictions(), 36u);
  EXPECT_GT(table.in_heap_for_test(), 0u);
  for (std::uint64_t i = 0; i < 40; ++i) {
    ASSERT_EQ(pinned[i]->key, named("k", i));
    ASSERT_EQ(pinned[i]->uses.load(), i);
  }
  for (std::uint64_t i = 36; i < 40; ++i) EXPECT_EQ(table.get(named("k", i)), pinned[i]);
  pinned.clear();
  for (std::uint64_t i = 100; i < 140; ++i) {
    const auto h = table.get(named("k", i));
    ASSERT_EQ(h->key, named("k", i));
  }
  EXPECT_EQ(table.in_heap_for_test(), 0u);  // the four keys fit the array again
  EXPECT_EQ(table.size(), 4u);
}

TEST(KeyTableTest, AnEvictedPinnedStateOutlivesItsTable) {
  key_table<counter>::handle evicted;
  key_table<counter>::handle live;
  {
    key_table<counter> table(1, counting_factory(), 1);
    evicted = table.get("x");
    live = table.get("y");  // evicts x
    EXPECT_FALSE(table.contains("x"));
  }
  EXPECT_EQ(evicted->key, "x");
  EXPECT_EQ(live->key, "y");
  EXPECT_EQ(++evicted->uses, 1u);
  evicted = {};  // the slot array goes with the last of the two
  EXPECT_EQ(++live->uses, 1u);
}

// A state far larger than a cache line: a table whose array would exceed
// max_array_bytes gets an array of that size and keeps the other keys in heap
// slots. Only the first bytes of each state are written, so the pages stay few.
struct big_state {
  explicit big_state(std::string_view k) : id(std::stoull(std::string(k))) {}
  std::uint64_t id;
  char payload[16'376];
};

TEST(KeyTableTest, ACapBeyondTheArrayBoundKeepsTheRestInHeapSlots) {
  using table_type = key_table<big_state>;
  const std::size_t array_slots = table_type::max_array_bytes / table_type::slot_bytes();
  const std::size_t cap = array_slots + 200;
  table_type table(cap, [](std::string_view k) { return big_state(k); }, 1);
  for (std::uint64_t i = 0; i < cap; ++i) table.get(std::to_string(i));
  EXPECT_EQ(table.size(), cap);
  EXPECT_GE(table.in_heap_for_test(), 200u);
  for (std::uint64_t i = 0; i < cap; ++i) ASSERT_EQ(table.get(std::to_string(i))->id, i);
  for (std::uint64_t i = cap; i < 2 * cap; ++i) table.get(std::to_string(i));  // evicts them all
  EXPECT_EQ(table.size(), cap);
  EXPECT_EQ(table.evictions(), cap);
  for (std::uint64_t i = cap; i < 2 * cap; ++i) ASSERT_EQ(table.get(std::to_string(i))->id, i);
  EXPECT_FALSE(table.contains("0"));
}

TEST(KeyTableTest, KeyedHashIsStablePerInstanceAndDiffersAcrossInstances) {
  const detail::keyed_hash a;
  const detail::keyed_hash b;
  int differing = 0;
  for (std::uint64_t i = 0; i < 64; ++i) {
    const std::string key = ip_key(i);
    EXPECT_EQ(a(key), a(key));
    differing += a(key) != b(key);
  }
  EXPECT_EQ(differing, 64);
}

// Covers the hash's three paths (under 4 bytes, 4 to 16, longer) with keys of
// zero bytes, so that only the length tells the bases apart.
TEST(KeyTableTest, KeyedHashDependsOnEveryBitAndOnTheLength) {
  const detail::keyed_hash hash;
  std::unordered_set<std::uint64_t> seen;
  std::size_t keys = 0;
  for (std::size_t length = 0; length <= 70; ++length) {
    const std::string base(length, '\0');
    seen.insert(hash(base));
    ++keys;
    for (std::size_t bit = 0; bit < 8 * length; ++bit) {
      std::string flipped = base;
      flipped[bit / 8] = static_cast<char>(1 << (bit % 8));
      seen.insert(hash(flipped));
      ++keys;
    }
  }
  EXPECT_EQ(seen.size(), keys);
}

#if defined(__GLIBCXX__)
// 16-byte keys that all have one std::hash value under libstdc++, whose hash is
// unkeyed 64-bit MurmurHash2 (_Hash_bytes, seed 0xc70f6907): each 8-byte word w
// is folded as h = (h ^ d(w)) * m with d a bijection, so for any first word the
// second can be solved to bring h to the same value. An attacker needs no more.
std::vector<std::string> keys_colliding_under_std_hash(std::size_t count) {
  constexpr std::uint64_t m = 0xc6a4a7935bd1e995;
  std::uint64_t m_inverse = m;  // Newton's iteration, 3 -> 96 correct bits
  for (int i = 0; i < 5; ++i) m_inverse *= 2 - m * m_inverse;
  const auto shift_mix = [](std::uint64_t v) { return v ^ (v >> 47); };  // its own inverse
  const auto d = [&](std::uint64_t w) { return shift_mix(w * m) * m; };
  const auto d_inverse = [&](std::uint64_t y) { return shift_mix(y * m_inverse) * m_inverse; };

  const std::uint64_t start = 0xc70f6907 ^ (16 * m);
  std::vector<std::string> keys;
  for (std::uint64_t first = 0; first < count; ++first) {
    const std::uint64_t second = d_inverse(((start ^ d(first)) * m) ^ 0x5eed);
    std::string key(16, '\0');
    std::memcpy(key.data(), &first, 8);
    std::memcpy(key.data() + 8, &second, 8);
    keys.push_back(std::move(key));
  }
  return keys;
}

TEST(KeyTableTest, KeysThatAllCollideUnderStdHashSpreadAcrossShardsAndCells) {
  const std::vector<std::string> keys = keys_colliding_under_std_hash(4096);
  const std::size_t std_hash = std::hash<std::string_view>{}(keys.front());
  for (const std::string& k : keys) ASSERT_EQ(std::hash<std::string_view>{}(k), std_hash);

  // 32 shards of 256: std::hash would put every key in one shard (evicting all
  // but 256) and in one probe run; the keyed hash gives each shard ~128 keys.
  key_table<counter> table(8192, counting_factory());
  ASSERT_EQ(table.shard_count(), 32u);
  for (const std::string& k : keys) table.get(k);
  EXPECT_EQ(table.size(), keys.size());
  EXPECT_EQ(table.evictions(), 0u);
  EXPECT_LE(table.longest_probe_for_test(), 64u);  // ~30 at worst in 2000 trials
  for (const std::string& k : keys) ASSERT_TRUE(table.contains(k));
}
#endif

TEST(KeyTableTest, ThreadsInsertLookUpAndEvictWithoutMixingStates) {
  constexpr std::size_t cap = 2'000;
  key_table<counter> table(cap, counting_factory(), 8);
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> mismatches{0};
  std::atomic<std::size_t> max_seen{0};
  std::thread watcher([&] {
    while (!done.load()) {
      const std::size_t s = table.size();
      std::size_t prev = max_seen.load();
      while (s > prev && !max_seen.compare_exchange_weak(prev, s)) {
      }
    }
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
      for (int i = 0; i < 100'000; ++i) {
        // A hot set that fits and a cold tail that forces evictions.
        const std::uint64_t id = (rng() % 4 == 0) ? rng() % 100'000 : rng() % 100;
        const std::string key = named("key-", id);
        const bool ok = table.with(key, [&](counter& c) {
          c.uses.fetch_add(1, std::memory_order_relaxed);
          return c.key == key;
        });
        if (!ok) ++mismatches;
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  watcher.join();
  EXPECT_EQ(mismatches.load(), 0u);
  EXPECT_LE(max_seen.load(), cap);
  EXPECT_EQ(table.size(), cap);
  EXPECT_GT(table.evictions(), 0u);
  // Every hot key survived the cold tail: each of the 8 shards holds 250 entries,
  // ~13 of them hot; a hot key is used every ~130 operations on the table, while
  // evicting it takes 249 pushes to its shard after its last one, nearly all of
  // them cold inserts (~7000 operations on the table).
  for (int id = 0; id < 100; ++id) EXPECT_TRUE(table.contains(named("key-", id))) << id;
}

// Handles kept across evictions and released on other threads, some after the
// table is gone: exercises pinned slots, the heap fallback and the slot array's
// own lifetime under TSan.
TEST(KeyTableTest, ThreadsHoldStatesAcrossEvictionsAndReleaseThemAfterTheTable) {
  auto table = std::make_unique<key_table<counter>>(64, counting_factory(), 4);
  std::atomic<std::uint64_t> mismatches{0};
  std::vector<std::vector<key_table<counter>::handle>> kept(4);
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 7);
      std::vector<key_table<counter>::handle> held;
      for (int i = 0; i < 20'000; ++i) {
        const std::string key = named("key-", rng() % 500);
        auto h = table->get(key);
        h->uses.fetch_add(1, std::memory_order_relaxed);
        if (h->key != key) ++mismatches;
        if (rng() % 8 == 0) held.push_back(std::move(h));
        if (held.size() > 40) held.erase(held.begin() + static_cast<std::ptrdiff_t>(rng() % 40));
      }
      kept[static_cast<std::size_t>(t)] = std::move(held);
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(mismatches.load(), 0u);
  EXPECT_EQ(table->size(), 64u);
  table.reset();
  std::vector<std::thread> releasers;
  for (auto& held : kept) {
    releasers.emplace_back([&held] {
      for (auto& h : held) h->uses.fetch_add(1, std::memory_order_relaxed);
      held.clear();
    });
  }
  for (auto& r : releasers) r.join();
}

}  // namespace
}  // namespace bulwark::core
