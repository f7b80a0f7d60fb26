// Retry budget: retries may be at most `ratio` of the requests seen over a
// sliding window, plus a floor of `min_per_s` retries per second so that a
// quiet route can still retry (Linkerd, Envoy and Finagle budgets).
// record_request() is called once per original request; try_acquire_retry()
// asks for, and on success counts, one retry. Retries are not requests.
//
// Window. The window of length W is a ring of N buckets of width g = W / N,
// keyed by tick = floor(now / g). A decision at tick k reads the N buckets of
// ticks k-N+1 .. k: the "decision window", which covers between W - g and W of
// real time, ending at now.
//
// Exact guarantee (tested). Let F = min_per_s * W (in seconds). For every
// admitted retry, counting the retries admitted in its decision window so far,
// itself included, and the requests recorded in that window before it:
//     retries <= ratio * requests + F.
// A retry is admitted iff admitting it keeps that inequality (computed in
// double). Linkerd's rule, retries < ratio * requests + F before admission, can
// end one retry above the bound; this rule never does.
//
// Lock-free representation. Each bucket holds two 64-bit atomic words, one for
// requests and one for retries, each packing [tick tag : 40 bits | count : 24].
// A write to a bucket whose tag is an older tick resets it and counts in one
// CAS, so a stale bucket can never mix its old count into the new tick. Tags
// compare in a ring of 2^40 ticks: correct while a bucket is reused within 2^39
// ticks (17 years at 1 ms buckets). A count saturates at 2^24 - 1 per bucket:
// further requests are not counted and further retries are refused, which errs
// on the side of fewer retries.
//
// Races considered:
// - Two threads take the last unit of budget at once. A retry that looks
//   affordable is counted first (CAS on its bucket) and only then checked
//   against a fresh window sum; if the sum is over the bound it is taken back.
//   Order the admitted retries by the moment they read that sum: the last
//   one's read includes every other admitted retry (each counted itself before
//   its own, earlier, read and never took it back), so it saw at least all of
//   them and they fit. The price: two threads racing for the last unit may both
//   see the other's tentative count and both refuse. A retry that does not fit
//   even before counting is refused without any write.
// - Two threads cross into a new tick at once: both try to reset the bucket;
//   one CAS wins, the other re-reads the fresh tag and increments.
// - A caller whose `now` lags another's (threads read the clock at different
//   moments). An event for a tick older than the bucket's tag is dropped (a
//   request: fewer requests, fewer retries) or refused (a retry). When summing,
//   retries in buckets a little newer than the caller's tick are counted but
//   their requests are not, so a lagging caller decides against the newest
//   window, never against a more generous one.
//
// The sum reads N buckets one by one, not as a snapshot; a concurrent reset can
// only remove an expired bucket's counts, which the newest window excludes too.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "core/clock.h"

namespace bulwark::core {

class retry_budget {
 public:
  static constexpr duration default_window = std::chrono::seconds{10};
  static constexpr unsigned default_buckets = 10;

  // ratio >= 0, min_per_s >= 0, window >= buckets ns, buckets >= 1 (negative
  // numbers count as zero, a window shorter than `buckets` ns as `buckets` ns).
  retry_budget(double ratio, double min_per_s, duration window = default_window,
               unsigned buckets = default_buckets);

  retry_budget(const retry_budget&) = delete;
  retry_budget& operator=(const retry_budget&) = delete;

  void record_request(time_point now);

  // True when a retry may be sent now; the retry is then counted.
  bool try_acquire_retry(time_point now);

  // The counts of the decision window at `now` (for metrics and tests).
  std::uint64_t requests_in_window(time_point now) const;
  std::uint64_t retries_in_window(time_point now) const;

  // ratio * requests + min_per_s * window: the most retries the window may hold.
  double allowance(std::uint64_t requests) const;

  duration bucket_width() const { return duration{bucket_width_}; }
  unsigned buckets() const { return bucket_count_; }

 private:
  struct bucket {
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> retries{0};
  };
  struct window_counts {
    std::uint64_t requests = 0;
    std::uint64_t retries = 0;
  };

  std::uint64_t tick_of(time_point now) const;
  bucket& bucket_for(std::uint64_t tick) const;
  window_counts sum_window(std::uint64_t tick) const;
  bool fits(window_counts counts) const;

  double ratio_;
  double floor_;  // min_per_s * window, in retries
  std::int64_t bucket_width_;
  unsigned bucket_count_;
  std::unique_ptr<bucket[]> buckets_;
};

}  // namespace bulwark::core
