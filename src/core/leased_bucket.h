// A cluster-scope rate limit, as seen by the request path (docs/cluster.md).
//
// Several gateway instances share one limit through Redis, but no request
// waits on Redis: each instance holds, per key, an *allowance* of tokens it
// may admit on its own, and a background thread (the cluster thread,
// src/cluster/cluster_node.h) tops allowances up with tokens leased from the
// shared bucket in Redis, in batches, and returns what a key no longer needs.
//
// leased_bucket is one key's allowance: a rate_limiter whose try_acquire is a
// CAS on one atomic, like the local limiters, plus a demand counter the
// cluster thread reads to size the next lease. It never reads a clock, takes
// no lock and allocates nothing.
//
// lease_pool is one policy's side of the exchange: its spec, the mode the
// cluster thread sets (shared, or what on_redis_down says while Redis is
// unreachable), this instance's share of the limit, and the list of cells the
// cluster thread must look at. A cell joins that list on its first use after
// it was created or went to rest (list()), with a reference that keeps it
// alive until the cluster thread lets it go, even if its key table evicts it
// meanwhile, so that what it holds is returned. The list is a Treiber stack:
// the request path pushes, the cluster thread takes the whole stack at once
// (exchange with null), so there is no ABA. Its length is bounded
// (max_listed): a spray of keys beyond that waits to be listed, admitted
// meanwhile from the credit each new cell starts with, never more.
//
// The credit. A new cell (a key this instance holds no state for) starts with
// ceil(burst x share) tokens, not yet charged to the shared bucket, so the
// first requests of a new client cost no Redis round trip; the cluster thread
// charges what was used at its next sync (the shared bucket may go below zero
// and then refuses until it has refilled: what was admitted early is paid
// back). With the shares of the live instances summing to 1, a key new to every
// instance at once admits at most burst + N (the ceilings) before Redis knows.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/rate_limiter.h"

namespace bulwark::core {

// What the shared state in Redis counts: a token bucket (the token_bucket and
// gcra algorithms, which admit alike) or a sliding window.
enum class shared_algorithm : std::uint8_t { token_bucket, sliding_window };

// Where allowances come from now (cluster.on_redis_down, DESIGN.md §9).
enum class lease_mode : std::uint8_t {
  shared,  // leased from Redis
  local,   // Redis unreachable: leased from this instance's share, locally
  allow,   // Redis unreachable: admit beyond the allowance
  deny     // Redis unreachable: refuse beyond the allowance
};

class leased_bucket;

class lease_pool {
 public:
  // How the pool reaches the references its cells were listed with: the key
  // table's handles, which it cannot name (set_pin_ops, by the table's owner).
  struct pin_ops {
    void (*release)(void* pin) = nullptr;
    std::string_view (*key)(void* pin) = nullptr;
  };

  // `name` identifies the policy in Redis keys and metrics; `max_listed`
  // bounds the cells waiting for or under the cluster thread's care.
  lease_pool(std::string name, rate_limit_spec spec, shared_algorithm algorithm,
             std::size_t max_listed);
  ~lease_pool();  // releases the references of cells still listed
  lease_pool(const lease_pool&) = delete;
  lease_pool& operator=(const lease_pool&) = delete;

  const std::string& name() const { return name_; }
  const rate_limit_spec& spec() const { return spec_; }
  shared_algorithm algorithm() const { return algorithm_; }
  std::int64_t emission_interval_ns() const { return interval_; }
  void set_pin_ops(pin_ops ops) { pin_ops_ = ops; }
  const pin_ops& pins() const { return pin_ops_; }

  // Written by the cluster thread, read by the request path (relaxed: each is
  // a value on its own, and a request that sees the old one a moment longer
  // decides as it would have a moment earlier).
  lease_mode mode() const { return mode_.load(std::memory_order_relaxed); }
  void set_mode(lease_mode mode) { mode_.store(mode, std::memory_order_relaxed); }
  double share() const { return share_.load(std::memory_order_relaxed); }
  void set_share(double share) { share_.store(share, std::memory_order_relaxed); }
  // How often the cluster thread tops allowances up: the earliest a refused
  // request can find tokens again.
  duration sync_interval() const { return duration{sync_interval_ns_.load(std::memory_order_relaxed)}; }
  void set_sync_interval(duration every) {
    sync_interval_ns_.store(every.count(), std::memory_order_relaxed);
  }

  // The tokens a new (or resting) cell starts with, uncharged: none while
  // Redis is down with `deny`, else ceil(burst x share), at least 1.
  std::int64_t credit() const;

  // Request path: puts `cell` on the list with `pin`, the reference that keeps
  // it alive (released here if the list is full; the cell tries again on its
  // next use). The cell must not be listed already (leased_bucket::claim_listing).
  void list(leased_bucket& cell, void* pin);

  // Cluster thread: every cell listed since the last call (newest first,
  // linked through leased_bucket::next_listed()).
  leased_bucket* take_listed() { return listed_head_.exchange(nullptr, std::memory_order_acquire); }
  // Cluster thread: `cell` leaves the cluster thread's care; its reference is
  // released (which may destroy it). It is listed again on its next use.
  void unlist(leased_bucket& cell);
  std::size_t listed() const { return listed_count_.load(std::memory_order_relaxed); }

 private:
  std::string name_;
  rate_limit_spec spec_;
  shared_algorithm algorithm_;
  std::int64_t interval_;  // ns per token, as detail::checked_emission_interval
  std::size_t max_listed_;
  pin_ops pin_ops_;
  std::atomic<lease_mode> mode_{lease_mode::shared};
  // Until the first heartbeat tells how many instances share the limit, this
  // one assumes it is alone.
  std::atomic<double> share_{1.0};
  std::atomic<std::int64_t> sync_interval_ns_{20'000'000};
  std::atomic<leased_bucket*> listed_head_{nullptr};
  std::atomic<std::size_t> listed_count_{0};
};

class leased_bucket final : public rate_limiter {
 public:
  // A new cell starts with the pool's credit (lease_pool::credit()).
  explicit leased_bucket(lease_pool& pool)
      : pool_(pool),
        burst_(pool.spec().burst),
        interval_(pool.algorithm() == shared_algorithm::sliding_window ? 0 : pool.emission_interval_ns()),
        state_(static_cast<std::uint64_t>(pool.credit())),
        rest_allowance_(pool.credit()),
        rest_unpaid_(rest_allowance_) {}

  rate_limit_decision try_acquire(time_point, std::uint64_t cost = 1) override {
    // One CAS takes the tokens and counts the demand together.
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    while ((state & allowance_mask) >= cost) {
      if (state_.compare_exchange_weak(state, state - cost + (cost << demand_shift),
                                       std::memory_order_relaxed)) {
        return admitted(static_cast<std::int64_t>((state & allowance_mask) - cost));
      }
    }
    count_refused(state, cost);
    if (pool_.mode() == lease_mode::allow) return admitted(0);
    return refused(static_cast<std::int64_t>(cost));
  }

  // A refusal counts as demand (a request refused by one policy of several
  // never reaches try_acquire, and the cluster thread must still see that the
  // key wants tokens); an admission does not (try_acquire follows and counts it).
  rate_limit_decision peek(time_point, std::uint64_t cost = 1) const override {
    const std::uint64_t state = state_.load(std::memory_order_relaxed);
    const std::uint64_t have = state & allowance_mask;
    if (have >= cost) return admitted(static_cast<std::int64_t>(have - cost));
    count_refused(state, cost);
    if (pool_.mode() == lease_mode::allow) return admitted(0);
    return refused(static_cast<std::int64_t>(cost));
  }

  void refund(time_point, std::uint64_t cost = 1) override {
    state_.fetch_add(cost, std::memory_order_relaxed);
  }

  std::uint64_t limit() const override { return burst_; }
  lease_pool& pool() const { return pool_; }
  const rate_limit_spec& spec() const override { return pool_.spec(); }

  // Request path: whether this use must put the cell on its pool's list (true
  // once per listing: the caller then calls pool.list()).
  bool claim_listing() {
    return !listed_.load(std::memory_order_relaxed) &&
           !listed_.exchange(true, std::memory_order_acq_rel);
  }

  // --- the cluster thread's side ---
  std::uint64_t take_demand() {
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    while (!state_.compare_exchange_weak(state, state & allowance_mask, std::memory_order_relaxed)) {
    }
    return state >> demand_shift;
  }
  std::int64_t allowance() const {
    return static_cast<std::int64_t>(state_.load(std::memory_order_relaxed) & allowance_mask);
  }
  // `tokens` >= 0; an allowance never exceeds the burst plus a credit, far
  // below the 2^40 its field holds.
  void grant(std::int64_t tokens) {
    state_.fetch_add(static_cast<std::uint64_t>(tokens), std::memory_order_relaxed);
  }
  // Takes up to `tokens` out of the allowance (what the request path has not
  // spent meanwhile); returns how many.
  std::int64_t take(std::int64_t tokens) {
    std::uint64_t state = state_.load(std::memory_order_relaxed);
    for (;;) {
      const auto have = static_cast<std::int64_t>(state & allowance_mask);
      const std::int64_t taken = std::clamp<std::int64_t>(have, 0, tokens);
      if (taken == 0) return 0;
      if (state_.compare_exchange_weak(state, state - static_cast<std::uint64_t>(taken),
                                       std::memory_order_relaxed)) {
        return taken;
      }
    }
  }
  // The shared bucket's tokens as the last lease saw them, for the RateLimit
  // fields (remaining) and Retry-After.
  void set_shared_tokens(std::int64_t tokens) { shared_tokens_.store(tokens, std::memory_order_relaxed); }
  // Where the cluster thread's accounting starts when the cell is listed: the
  // allowance as the thread left it when the cell was created (its credit) or
  // last went to rest, and how much of that was never charged to the shared
  // bucket (credit; only a new cell has any).
  std::int64_t rest_allowance() const { return rest_allowance_; }
  std::int64_t rest_unpaid() const { return rest_unpaid_; }
  void set_rest_state(std::int64_t allowance, std::int64_t unpaid) {
    rest_allowance_ = allowance;
    rest_unpaid_ = unpaid;
  }
  void* pin() const { return pin_; }
  leased_bucket* next_listed() const { return next_; }

 private:
  friend class lease_pool;

  rate_limit_decision admitted(std::int64_t left) const {
    const std::uint64_t remaining = remaining_with(left);
    return {true, remaining, duration{0}, reset_after(remaining)};
  }
  rate_limit_decision refused(std::int64_t need) const;
  std::uint64_t remaining_with(std::int64_t left) const {
    const std::int64_t shared = std::max<std::int64_t>(0, shared_tokens_.load(std::memory_order_relaxed));
    return static_cast<std::uint64_t>(
        std::clamp<std::int64_t>(std::max<std::int64_t>(left, 0) + shared, 0, static_cast<std::int64_t>(burst_)));
  }
  // The time until the shared limit would be full again; a sliding window's
  // is its period.
  duration reset_after(std::uint64_t remaining) const {
    if (interval_ == 0) return pool_.spec().per;
    return duration{static_cast<std::int64_t>(burst_ - std::min(remaining, burst_)) * interval_};
  }

  lease_pool& pool_;
  // Copies of the pool's numbers the decision reads, so that it touches the
  // cell's own cache line only.
  const std::uint64_t burst_;
  const std::int64_t interval_;  // ns per token; 0 for a sliding window
  // The allowance (never negative) in the low 40 bits, the demand since the
  // cluster thread last took it in the high 24: one word, so an admission is
  // one CAS, as in the local limiters. The demand field wraps harmlessly at
  // 2^24 per sync (it only sizes leases, and counting stops far below that).
  static constexpr unsigned demand_shift = 40;
  static constexpr std::uint64_t allowance_mask = (std::uint64_t{1} << demand_shift) - 1;
  // A refusal counts its demand, but only while the count is below the burst:
  // beyond that the lease is at its largest anyway, and a flood of refusals
  // then only reads the line, as with the local limiters.
  void count_refused(std::uint64_t state, std::uint64_t cost) const {
    if ((state >> demand_shift) < burst_) {
      state_.fetch_add(cost << demand_shift, std::memory_order_relaxed);
    }
  }
  mutable std::atomic<std::uint64_t> state_;
  // Unknown until the first lease: the limit is assumed full.
  std::atomic<std::int64_t> shared_tokens_{static_cast<std::int64_t>(pool_.spec().burst)};
  std::atomic<bool> listed_{false};
  // Set by list() before the push that publishes the cell (release), read by
  // the cluster thread after take_listed (acquire).
  leased_bucket* next_ = nullptr;
  void* pin_ = nullptr;
  std::int64_t rest_allowance_;  // cluster thread only, after construction
  std::int64_t rest_unpaid_;
};

}  // namespace bulwark::core
