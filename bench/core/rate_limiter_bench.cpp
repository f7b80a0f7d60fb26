// ns per rate-limit decision: each limiter on one shared key (1 and 2 threads,
// the 2-thread figure being the contended one), key_table lookup + decision over
// 100k keys drawn at random from a pre-generated list (in a table built for them,
// and in one that a spray filled first, so that most keys missed their home
// slots: the two ends of key_table's hit cost), and the same under a spray of
// distinct keys (create + evict on every call).
//
// Time advances 1 us per call with a rate of 1 per ns, so nearly every decision is
// an admission, i.e. the CAS (write) path; refusals only read and are cheaper.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "core/gcra.h"
#include "core/key_table.h"
#include "core/leased_bucket.h"
#include "core/sliding_window.h"
#include "core/token_bucket.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

const rate_limit_spec fast_spec{1'000'000'000, 1s, 1'000};

template <class Limiter>
void one_key(benchmark::State& state, Limiter& limiter) {
  std::int64_t now = 1'000'000'000'000 + state.thread_index() * 500;
  for (auto _ : state) {
    now += 1'000;
    benchmark::DoNotOptimize(limiter.try_acquire(time_point{duration{now}}));
  }
}

token_bucket shared_bucket(fast_spec);
gcra shared_gcra(fast_spec);
sliding_window shared_window({sliding_window::max_count, 1s, 0});

void token_bucket_one_key(benchmark::State& state) { one_key(state, shared_bucket); }
void gcra_one_key(benchmark::State& state) { one_key(state, shared_gcra); }
void sliding_window_one_key(benchmark::State& state) { one_key(state, shared_window); }

// A cluster-scope key (issue 14 §6: at most 2x a local decision): the
// allowance the cluster thread leased, here large enough never to run out,
// and the demand count beside it.
lease_pool shared_pool("bench", fast_spec, shared_algorithm::token_bucket, 1);
leased_bucket& leased_cell() {
  static leased_bucket cell(shared_pool);
  return cell;
}
void leased_bucket_one_key(benchmark::State& state) {
  if (state.thread_index() == 0) leased_cell().grant(std::int64_t{1} << 60);
  one_key(state, leased_cell());
}

BENCHMARK(token_bucket_one_key)->Threads(1)->Threads(2);
BENCHMARK(leased_bucket_one_key)->Threads(1)->Threads(2);
BENCHMARK(gcra_one_key)->Threads(1)->Threads(2);
BENCHMARK(sliding_window_one_key)->Threads(1)->Threads(2);

// 100k client addresses and a random access sequence over them, materialised in
// order (2^20 keys, every address about ten times) so that reading the next key
// streams through memory and the benchmark measures the table, not its own list.
struct key_workload {
  static constexpr std::size_t keys = 100'000;
  static constexpr std::size_t accesses = 1 << 20;
  std::vector<std::string> sequence;

  static std::string address(std::size_t i) {
    std::string a = "10.";
    for (const std::size_t octet : {i >> 16, (i >> 8) & 255, i & 255}) {
      a += std::to_string(octet);
      a += '.';
    }
    a.pop_back();
    return a;
  }

  key_workload() {
    std::mt19937_64 rng(1);
    sequence.reserve(accesses);
    for (std::size_t i = 0; i < accesses; ++i) sequence.push_back(address(rng() % keys));
  }
};

token_bucket fast_bucket(std::string_view /*key*/) {
  return token_bucket(fast_spec);
}

template <class Table>
void decide_over(benchmark::State& state, Table& table, const std::vector<std::string>& keys) {
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * (keys.size() / 2);
  std::int64_t now = 1'000'000'000'000;
  for (auto _ : state) {
    now += 1'000;
    const std::string& key = keys[i++ & (keys.size() - 1)];
    benchmark::DoNotOptimize(table.with(key, [now](token_bucket& bucket) {
      return bucket.try_acquire(time_point{duration{now}});
    }));
  }
}

// Lookup + decision, every key present (the table has room for all of them).
void key_table_100k(benchmark::State& state) {
  static const key_workload workload;
  static key_table<token_bucket> table(2 * key_workload::keys, fast_bucket);
  if (state.thread_index() == 0) {
    for (std::size_t i = 0; i < key_workload::keys; ++i) table.get(key_workload::address(i));
  }
  decide_over(state, table, workload.sequence);
}
BENCHMARK(key_table_100k)->Threads(1)->Threads(2);

// The same lookups in a full table that a spray of 2^20 other addresses went
// through first: then a new key rarely finds its home slot free (eviction frees
// slots anywhere), so most of the 100k keys live away from home, behind an index
// cell. Its cap leaves 10% to spare, so that no shard has to evict one of the
// 100k (inserted before the timing) during the measurement.
void key_table_100k_after_spray(benchmark::State& state) {
  static const key_workload workload;
  static key_table<token_bucket> table(key_workload::keys + key_workload::keys / 10, fast_bucket);
  if (state.thread_index() == 0 && table.size() == 0) {
    for (std::size_t i = 0; i < key_workload::accesses; ++i) {
      std::string spray = "192.";
      spray += key_workload::address(i).substr(3);
      table.get(spray);
    }
    for (std::size_t i = 0; i < key_workload::keys; ++i) table.get(key_workload::address(i));
  }
  decide_over(state, table, workload.sequence);
}
BENCHMARK(key_table_100k_after_spray)->Threads(1)->Threads(2);

// The spray: a table capped at 10k entries facing 2^20 distinct addresses, so
// every call creates a state and evicts another.
void key_table_spray(benchmark::State& state) {
  static const std::vector<std::string> addresses = [] {
    std::vector<std::string> all;
    all.reserve(key_workload::accesses);
    for (std::size_t i = 0; i < key_workload::accesses; ++i) {
      all.push_back(key_workload::address(i));
    }
    return all;
  }();
  static key_table<token_bucket> table(10'000, fast_bucket);
  decide_over(state, table, addresses);
}
BENCHMARK(key_table_spray)->Threads(1)->Threads(2);

}  // namespace
}  // namespace bulwark::core
