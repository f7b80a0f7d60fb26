// Retry and concurrency policies: ns per decision.
//   budget check       record_request + try_acquire_retry, 1 and 2 threads on one
//                      budget; time advances 1 µs per iteration so buckets roll;
//   aimd / gradient2   one on_sample;
//   bulkhead           try_acquire + release of a permit;
//   adaptive limiter   try_acquire + complete(success) with an AIMD limit;
//   backoff            one full-jitter delay from std::mt19937_64.
#include <benchmark/benchmark.h>

#include <random>

#include "core/adaptive_limit.h"
#include "core/aimd_limit.h"
#include "core/backoff.h"
#include "core/bulkhead.h"
#include "core/gradient2_limit.h"
#include "core/retry_budget.h"

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

const time_point start{std::chrono::seconds{1'000'000}};

retry_budget shared_budget{0.2, 10.0};

void budget_check(benchmark::State& state) {
  time_point now = start;
  for (auto _ : state) {
    shared_budget.record_request(now);
    benchmark::DoNotOptimize(shared_budget.try_acquire_retry(now));
    now += 1us;
  }
}
BENCHMARK(budget_check)->Threads(1)->Threads(2)->UseRealTime();

void aimd_on_sample(benchmark::State& state) {
  aimd_config config;
  config.max_limit = 1000;
  aimd_limit limit{config};
  std::size_t i = 0;
  for (auto _ : state) {
    // A drop every 16 samples keeps the limit moving both ways.
    limit.on_sample(start, 5ms, limit.limit(), (++i & 15) == 0);
    benchmark::DoNotOptimize(limit.limit());
  }
}
BENCHMARK(aimd_on_sample);

void gradient2_on_sample(benchmark::State& state) {
  gradient2_limit limit{gradient2_config{}};
  std::int64_t i = 0;
  for (auto _ : state) {
    limit.on_sample(start, duration{5'000'000 + (++i & 1023) * 10'000}, limit.limit(), false);
    benchmark::DoNotOptimize(limit.limit());
  }
}
BENCHMARK(gradient2_on_sample);

bulkhead shared_bulkhead{1'000};

void bulkhead_acquire_release(benchmark::State& state) {
  for (auto _ : state) {
    auto permit = shared_bulkhead.try_acquire();
    benchmark::DoNotOptimize(permit);
  }
}
BENCHMARK(bulkhead_acquire_release)->Threads(1)->Threads(2)->UseRealTime();

void adaptive_limiter_acquire_complete(benchmark::State& state) {
  aimd_config config;
  config.max_limit = 1000;
  adaptive_limiter limiter{std::make_unique<aimd_limit>(config)};
  for (auto _ : state) {
    auto permit = limiter.try_acquire(start);
    if (permit) permit->complete(limit_outcome::success, start + 5ms);
  }
}
BENCHMARK(adaptive_limiter_acquire_complete);

void backoff_full_jitter(benchmark::State& state) {
  const backoff b{100ms, 2s, jitter::full};
  std::mt19937_64 random{1};
  unsigned attempt = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(b.next_delay(attempt++ & 7, 0ns, random));
  }
}
BENCHMARK(backoff_full_jitter);

}  // namespace
}  // namespace bulwark::core
