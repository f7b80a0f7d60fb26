// Passive outlier detection (DESIGN.md `upstreams[].outlier_detection`):
// Envoy's consecutive-failure ejection, one instance per upstream shared by
// every worker thread.
//
//   counting ──(`consecutive_failures` failures in a row)──► ejected until now + eject_for
//   counting ──(a success)──► counting, from zero
//   ejected ──(eject_for elapsed; noticed lazily)──► counting, from zero
//
// Choices, where Envoy leaves room or does more:
// - The ejection time is fixed (`eject_for`); Envoy multiplies its base time by
//   the number of past ejections. One knob is easier to reason about, and a
//   still-broken endpoint is ejected again after `consecutive_failures` tries.
// - Cap: at most max(1, floor(max_ejected × endpoints)) endpoints are ejected at
//   once when max_ejected > 0 (Envoy ejects at least one host whatever its
//   max_ejection_percent: a two-endpoint upstream at 0.3 can still drop a dead
//   endpoint); max_ejected == 0 ejects nothing (counts are still kept and shown).
//   An ejection over the cap is skipped and the endpoint's count stays at the
//   threshold, so its next failure tries again (maybe after another ejection
//   has expired).
// - There is no panic threshold: when every endpoint is ejected (possible with
//   max_ejected = 1, or a single endpoint), nothing is usable and the proxy
//   answers 503 "no healthy endpoint" rather than sending traffic to endpoints
//   it has just seen fail.
// - Outcomes recorded while an endpoint is ejected (responses to tries that
//   were in flight when it was ejected) are ignored: the endpoint is out
//   already, and a late success does not prove that it recovered.
//
// Time is an argument (src/core has no clock of its own); expiry is lazy: an
// ejection is over as soon as `now` reaches its deadline, for every reader,
// without anyone writing. The ejection's cap slot (below) is given back by the
// next record() on that endpoint or by the next ejection that needs room.
//
// Concurrency. Each endpoint's state is one 64-bit atomic word:
//   [ejected_until: 48 bits, milliseconds of the steady clock, 0 = none | failures: 16 bits]
// so a count and the ejection it causes change together in one CAS. Milliseconds
// (rounded up) are precise enough for ejection times and 48 bits last 8900
// years; the count saturates at 65535 (thresholds above that are clamped).
// The cap uses a shared count of held ejection slots, `slots_`, with the rule:
// a slot is reserved (CAS: only while below the cap) *before* the endpoint word
// is CASed to ejected, and given back only *after* the word is CASed back to
// counting. Hence slots_ >= endpoints whose word says ejected, at every instant,
// and slots_ <= cap: the cap is never exceeded, not even transiently. Races:
// - two endpoints cross the threshold at once with one slot left: both try the
//   slot CAS; one wins and ejects, the other finds the cap reached, sweeps for
//   expired ejections, finds none, and skips (its count stays at threshold).
// - two failures on the same endpoint cross the threshold at once: both may
//   reserve a slot, but only one wins the word CAS; the loser gives its slot back
//   and retries, finding the endpoint already ejected (its failure is ignored).
// - a release (word CAS done, slot not yet given back) races an ejection
//   elsewhere: the ejection may see the cap still reached and skip. That is the
//   accepted, bounded cost of ordering the two updates conservatively: the skip
//   is retried on the endpoint's next failure.
// - a success races a failure on the same endpoint: the word CAS serializes
//   them; the count ends as one of the two orders would leave it.
// The hot path (usable(), a success on a counting endpoint at zero) is one
// relaxed load; writes happen only when the state changes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/clock.h"

namespace bulwark::core {

struct outlier_settings {
  std::uint32_t consecutive_failures = 5;  // clamped to 1..65535
  duration eject_for = std::chrono::seconds(30);
  double max_ejected = 0.5;  // share of the endpoints ejected at once, clamped to [0, 1]
  friend bool operator==(const outlier_settings&, const outlier_settings&) = default;
};

// What record() did, for logs and metrics.
enum class outlier_event {
  none,
  ejected,           // this failure ejected the endpoint
  ejection_skipped,  // this failure reached the threshold, but the cap was reached
};

class outlier_detector {
 public:
  outlier_detector(std::size_t endpoint_count, const outlier_settings& settings);
  outlier_detector(const outlier_detector&) = delete;
  outlier_detector& operator=(const outlier_detector&) = delete;

  // The outcome of one try on `endpoint` (failure: connect failure, reset,
  // timeout, 5xx; the caller decides).
  outlier_event record(std::size_t endpoint, bool failure, time_point now);

  bool ejected(std::size_t endpoint, time_point now) const;
  // How much longer the endpoint stays ejected (zero when it is not).
  duration ejected_for(std::size_t endpoint, time_point now) const;
  std::uint32_t consecutive_failures(std::size_t endpoint) const;
  // Endpoints ejected at `now` (a scan; for status and readiness, not per request).
  std::size_t ejected_count(time_point now) const;

  std::size_t size() const { return size_; }
  // The most endpoints that may be ejected at once.
  std::size_t max_ejectable() const { return cap_; }
  std::uint64_t ejections_total() const { return ejections_.load(std::memory_order_relaxed); }
  std::uint64_t ejections_skipped_total() const { return skipped_.load(std::memory_order_relaxed); }

 private:
  // Reserves a cap slot, sweeping expired ejections first when none is free.
  bool reserve_slot(time_point now);
  // If `endpoint`'s ejection is over, returns it to counting (from zero) and
  // gives its slot back; true when this call did it.
  bool release_if_expired(std::size_t endpoint, time_point now);

  const std::size_t size_;
  const std::uint32_t threshold_;
  const duration eject_for_;
  const std::size_t cap_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> words_;
  std::atomic<std::size_t> slots_{0};
  std::atomic<std::uint64_t> ejections_{0};
  std::atomic<std::uint64_t> skipped_{0};
};

}  // namespace bulwark::core
