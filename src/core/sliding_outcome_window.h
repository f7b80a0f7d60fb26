// Sliding windows of call outcomes: what the circuit breaker measures while closed.
//
// Two kinds, as in resilience4j:
// - count_window: exactly the last N recorded calls (a ring of N slots plus a
//   running total, so a record and a read are O(1)).
// - time_window: the calls of the last `window`, kept in B buckets of window/B
//   each; a read covers the current bucket and the B - 1 before it, i.e. between
//   window - window/B and window of history (resilience4j's 1-second buckets
//   have the same granularity).
//
// Both are lock-free (a record is a handful of CAS / fetch_add, no mutex, no
// allocation) and *generation aware*. The breaker wants a fresh window every
// time it enters closed, but cannot stop the threads that are still recording
// calls admitted in an earlier closed period (a slow call that outlived the
// whole open + half-open cycle). Every operation therefore names the breaker
// generation it belongs to, and a record of an older generation can never land
// in a newer generation's totals:
// - count_window tags its running total and each slot with the generation
//   (8 bits); starting a generation stores a new tag, and every update of the
//   total is a CAS that fails on a tag mismatch. A stale record is dropped.
// - time_window keys each bucket word by `epoch + generation * B`: a new
//   generation's keys lie at least B buckets above any key of an older one, so
//   old words are outside the new window without being touched (no reset at all).
// The 8-bit tag repeats after 256 transitions; a record would have to stay in
// flight across 256 transitions (128 open periods) to be mistaken for a current
// one, far beyond any request timeout.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/clock.h"

namespace bulwark::core {

struct window_totals {
  std::uint64_t calls = 0;
  std::uint64_t failures = 0;
  std::uint64_t slow_calls = 0;

  // Both are 0 for an empty window. Inline: the breaker compares them on every record.
  double failure_rate() const { return ratio(failures); }
  double slow_call_rate() const { return ratio(slow_calls); }

 private:
  double ratio(std::uint64_t part) const {
    return calls == 0 ? 0.0 : static_cast<double>(part) / static_cast<double>(calls);
  }
};

// What one finished call contributes to a window.
struct call_sample {
  bool failed = false;
  bool slow = false;
};

class count_window {
 public:
  // The running total's fields are sized for this many calls plus slack for the
  // calls that are transiently counted twice while threads record concurrently.
  static constexpr std::uint32_t max_size = 100'000;

  explicit count_window(std::uint32_t size);
  count_window(const count_window&) = delete;
  count_window& operator=(const count_window&) = delete;

  // Empties the window for `generation`. Must happen-before any record() of that
  // generation (the breaker calls it before publishing the generation); records
  // of other generations may run concurrently and are dropped.
  void start_generation(std::uint32_t generation);

  // The totals right after this record, or nullopt when the record was dropped
  // because `generation` is no longer the window's.
  std::optional<window_totals> record(std::uint32_t generation, call_sample sample);

  window_totals totals(std::uint32_t generation) const;

 private:
  std::optional<std::uint64_t> update_total(std::uint64_t tag, std::uint64_t add,
                                            std::uint64_t remove);
  std::optional<window_totals> current_totals(std::uint64_t tag) const;

  const std::uint32_t size_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> next_sequence_{0};
  std::atomic<std::uint64_t> generation_start_{0};
};

class time_window {
 public:
  static constexpr std::uint32_t max_buckets = 1'000;

  time_window(duration window, std::uint32_t buckets);
  time_window(const time_window&) = delete;
  time_window& operator=(const time_window&) = delete;

  // Nothing to clear: a generation's keys start above every older key.
  void start_generation(std::uint32_t) {}

  // The totals right after this record (the window ending at `now`), or nullopt
  // when the record was dropped: its bucket already holds a later key (a newer
  // generation, or a `now` older than the window that another thread has moved).
  std::optional<window_totals> record(std::uint32_t generation, time_point now, call_sample sample);

  window_totals totals(std::uint32_t generation, time_point now) const;

 private:
  // One counter per word: [key: 32 bits | count: 32 bits]. Three separate words
  // instead of one packed word keep 32-bit counts and a 32-bit key (a packed
  // word would leave 16 bits each, too few for a busy upstream); the price is
  // that a reader may see a record's call counted before its failure, which
  // lowers a rate by the number of records in flight. Readers load the call
  // count last, so a rate is never seen above the real one.
  struct bucket {
    std::atomic<std::uint64_t> calls{0};
    std::atomic<std::uint64_t> failures{0};
    std::atomic<std::uint64_t> slow_calls{0};
  };

  std::uint64_t key_at(std::uint32_t generation, time_point now) const;
  // `position` is newest_key % B.
  window_totals totals_ending_at(std::uint64_t newest_key, std::uint64_t position) const;

  const duration width_;
  const std::uint32_t bucket_count_;
  std::unique_ptr<bucket[]> buckets_;
};

}  // namespace bulwark::core
