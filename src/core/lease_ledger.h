// The cluster thread's accounts of the cells it looks after (leased_bucket.h),
// and the rule of the shared bucket those cells lease from. Pure: the cluster
// thread (src/cluster/cluster_node.cpp) does the I/O and passes time in.
//
// At every sync (cluster.sync_interval) the thread plans each listed cell:
//   - consumed: how much the allowance went down since the thread last left it;
//   - debt: the part of that admitted on credit (see leased_bucket.h), which
//     the shared bucket must now be charged;
//   - want: tokens to lease so the allowance covers `horizon_syncs` syncs of the
//     key's recent demand (an average over the last syncs, admitted and refused
//     requests alike), at most the burst, for a key with at least one request
//     per sync. Sizing from demand is what keeps the Redis traffic flat: a hot
//     key costs one entry per sync whatever its load;
//   - credit: a cell that has spent everything takes, from the shared tokens
//     the answer reports, its share (rounded up) without paying for them yet;
//     what that admits is charged at the next sync, like a new cell's credit.
//     A key seen now and then lives on credit alone, so no instance sets
//     tokens aside for a request that may come to another;
//   - a cell without demand for `rest_after_syncs` syncs goes to rest: it gives
//     every leased token back, keeps its credit for its next request, and
//     leaves the thread's care until its next use. A resting cell costs
//     nothing. An empty cell rests only once it has credit again; until then it
//     looks at the shared bucket, less and less often (up to every half token).
#pragma once

#include <cstdint>

#include "core/clock.h"
#include "core/leased_bucket.h"

namespace bulwark::core {

struct lease_settings {
  double horizon_syncs = 2;
  unsigned rest_after_syncs = 25;
  // Everything goes back at rest (the policy is going away, or the instance
  // stops): nothing is kept for a next request.
  bool closing = false;
};

// What one cell asks of its shared bucket at one sync.
struct lease_request {
  std::int64_t debt = 0;
  std::int64_t want = 0;
  std::int64_t give_back = 0;
  std::uint64_t demand = 0;  // requests seen since the last sync (admitted or not)
  // The cell is empty: it needs the shared bucket's tokens to take credit.
  bool look = false;
  bool empty() const { return debt == 0 && want == 0 && give_back == 0 && !look; }
};

// The shared bucket's rule, one key: a token bucket of `rate_per_second` and
// `burst`, whose tokens may go below zero when charged for credit already
// admitted. The Lua script in src/cluster/lease_scripts.cpp applies this very
// rule in Redis (with Redis TIME); the cluster thread applies it locally, at
// this instance's share, while Redis is down with on_redis_down: local.
struct shared_bucket {
  double tokens = 0;
  std::int64_t at_us = 0;  // when `tokens` was last brought up to date
};

class lease_ledger {
 public:
  // Starts where the cell's uncharged allowance stands (its credit).
  explicit lease_ledger(const leased_bucket& cell)
      : expected_(cell.rest_allowance()), unpaid_(cell.rest_unpaid()) {}

  lease_request plan(leased_bucket& cell, const lease_settings& settings);
  // The shared bucket granted `tokens` (perhaps 0) and holds `shared_tokens`
  // now. A sync whose answer never came (Redis timed out) is never granted:
  // its debt is not sent again, since it may have been charged.
  void granted(leased_bucket& cell, std::int64_t tokens, std::int64_t shared_tokens);
  // After the answer: whether the cell goes to rest now (idle long enough and
  // holding credit for its next request, or closing). If so, rest() keeps
  // where its accounts stand for its next listing, and the caller unlists it.
  bool resting() const { return resting_; }
  void rest(leased_bucket& cell) const { cell.set_rest_state(expected_, unpaid_); }
  // This cell's share of the limit, kept here while Redis is down with
  // on_redis_down: local (starting empty at the switch).
  shared_bucket& local_bucket() { return local_; }

 private:
  // Takes the consumption since the thread last left the allowance at
  // expected_ (which it becomes `observed`), charging what credit paid for.
  std::int64_t settle(std::int64_t observed);
  void take_credit(leased_bucket& cell, std::int64_t shared_tokens);

  std::int64_t expected_;  // the allowance as this thread last left it
  std::int64_t unpaid_;    // credit tokens still in the allowance, not charged yet
  double demand_ = 0;      // recent demand per sync (exponential average)
  unsigned idle_syncs_ = 0;
  bool closing_ = false;
  bool resting_ = false;
  unsigned look_every_ = 1;  // syncs between looks of an empty cell
  unsigned look_wait_ = 0;   // syncs until its next look
  shared_bucket local_;
};

struct lease_answer {
  std::int64_t granted = 0;
  std::int64_t tokens_left = 0;  // whole tokens, rounded down
};

lease_answer apply_lease(shared_bucket& bucket, std::int64_t now_us, const lease_request& request,
                         double rate_per_second, double burst);

}  // namespace bulwark::core
