// ns per admit + record of a closed circuit breaker (the proxy's per-request
// cost when the upstream is healthy), for each window kind, 1 and 2 threads on
// one shared breaker (the 2-thread figure is the contended one).
//
// Every call succeeds quickly, so the breaker stays closed; time advances 1 us
// per call and thread, so the time window rolls a bucket every million calls.
#include <benchmark/benchmark.h>

#include "core/circuit_breaker.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

circuit_breaker_settings bench_settings(window_kind kind) {
  circuit_breaker_settings s;
  s.window_type = kind;
  s.window_calls = 100;
  s.window = 30s;
  s.window_buckets = 10;
  s.min_requests = 20;
  return s;
}

void admit_and_record(benchmark::State& state, circuit_breaker& breaker) {
  std::int64_t now = 1'000'000'000'000 + state.thread_index() * 500;
  for (auto _ : state) {
    now += 1'000;
    const time_point at{duration{now}};
    auto permit = breaker.try_admit(at);
    permit.record(call_outcome::success, 1ms, at);
  }
}

circuit_breaker count_breaker(bench_settings(window_kind::count_based));
circuit_breaker time_breaker(bench_settings(window_kind::time_based));

void breaker_count_window(benchmark::State& state) {
  admit_and_record(state, count_breaker);
}
void breaker_time_window(benchmark::State& state) {
  admit_and_record(state, time_breaker);
}

BENCHMARK(breaker_count_window)->Threads(1)->Threads(2);
BENCHMARK(breaker_time_window)->Threads(1)->Threads(2);

}  // namespace
}  // namespace bulwark::core
