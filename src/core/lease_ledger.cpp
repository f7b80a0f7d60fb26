#include "core/lease_ledger.h"

#include <algorithm>
#include <cmath>

namespace bulwark::core {
namespace {

// Weight of the latest sync in the demand average: half, so a key that turns
// hot is served within a sync or two and one that cools down lets go as fast.
constexpr double demand_weight = 0.5;

}  // namespace

std::int64_t lease_ledger::settle(std::int64_t observed) {
  // A refund raises the allowance: nothing consumed, and the token is back.
  const std::int64_t consumed = std::max<std::int64_t>(0, expected_ - observed);
  expected_ = observed;
  // Credit is spent first: what the shared bucket has not been charged for is
  // charged as early as possible.
  const std::int64_t debt = std::min(consumed, unpaid_);
  unpaid_ -= debt;
  return debt;
}

lease_request lease_ledger::plan(leased_bucket& cell, const lease_settings& settings) {
  lease_request request;
  request.demand = cell.take_demand();
  const auto demand = static_cast<double>(request.demand);
  demand_ = demand_weight * demand + (1 - demand_weight) * demand_;
  idle_syncs_ = demand == 0 ? idle_syncs_ + 1 : 0;
  request.debt = settle(cell.allowance());
  closing_ = settings.closing;

  const std::int64_t paid = std::max<std::int64_t>(0, expected_ - unpaid_);
  resting_ = idle_syncs_ >= settings.rest_after_syncs || closing_;
  if (resting_) {
    // To rest: every paid token goes back (a token held for a request that
    // may never come is one the other instances cannot use); what the cell
    // keeps for its next request is credit (granted()).
    const std::int64_t taken = cell.take(paid);
    expected_ -= taken;
    request.give_back = taken;
  } else {
    // Paid tokens for demand that is there sync after sync (at least one
    // request per sync): two syncs' worth, at most the burst. A key seen
    // less often is served by credit alone, and so holds nothing paid that
    // its next request might be far from.
    const auto burst = static_cast<double>(cell.spec().burst);
    const double target = demand_ < 1 ? 0 : std::min(burst, std::floor(demand_ * settings.horizon_syncs));
    request.want = std::max<std::int64_t>(0, static_cast<std::int64_t>(target) - paid);
  }
  if (expected_ == 0 && !closing_) {
    request.look = look_wait_ == 0;
    if (look_wait_ > 0) --look_wait_;
  }
  return request;
}

void lease_ledger::granted(leased_bucket& cell, std::int64_t tokens, std::int64_t shared_tokens) {
  if (tokens > 0) {
    cell.grant(tokens);
    expected_ += tokens;
  }
  cell.set_shared_tokens(shared_tokens);
  take_credit(cell, shared_tokens);
  if (expected_ > 0 || closing_) {
    look_every_ = 1;
    look_wait_ = 0;
    return;
  }
  // A cell rests only with something to admit its next request with; an
  // empty one stays listed, looking at the shared bucket until that has a
  // token for it: every sync at first, then less often (doubling, up to half
  // the time the bucket takes to refill one token), so that keys held over
  // their limit do not keep Redis busy for nothing.
  resting_ = false;
  const auto& pool = cell.pool();
  const auto half_token = static_cast<unsigned>(std::clamp<std::int64_t>(
      pool.emission_interval_ns() / 2 / std::max<std::int64_t>(1, pool.sync_interval().count()), 1, 64));
  look_every_ = std::min(2 * look_every_, half_token);
  look_wait_ = look_every_ - 1;
}

void lease_ledger::take_credit(leased_bucket& cell, std::int64_t shared_tokens) {
  // An empty cell takes credit: its share of what the shared bucket holds,
  // charged only when spent. Instances that see the same tokens take shares
  // that sum to them (plus one per instance, rounding up), so credit can
  // outrun the shared bucket by at most N tokens, which it then pays back.
  // While Redis is down (local), the bucket seen is this instance's alone.
  const auto& pool = cell.pool();
  const lease_mode mode = pool.mode();
  if (closing_ || expected_ > 0 || shared_tokens < 1) return;
  if (mode != lease_mode::shared && mode != lease_mode::local) return;
  const double share = mode == lease_mode::shared ? std::clamp(pool.share(), 0.0, 1.0) : 1.0;
  const auto credit = static_cast<std::int64_t>(std::ceil(static_cast<double>(shared_tokens) * share));
  const std::int64_t taken = std::min(credit, pool.credit());
  cell.grant(taken);
  expected_ += taken;
  unpaid_ += taken;
}

lease_answer apply_lease(shared_bucket& bucket, std::int64_t now_us, const lease_request& request,
                         double rate_per_second, double burst) {
  if (now_us > bucket.at_us) {
    const double refill = static_cast<double>(now_us - bucket.at_us) * rate_per_second / 1e6;
    bucket.tokens = std::min(burst, bucket.tokens + refill);
    bucket.at_us = now_us;
  }
  bucket.tokens = std::min(burst, bucket.tokens + static_cast<double>(request.give_back)) -
                  static_cast<double>(request.debt);
  lease_answer answer;
  if (request.want > 0 && bucket.tokens >= 1) {
    answer.granted = std::min(request.want, static_cast<std::int64_t>(std::floor(bucket.tokens)));
    bucket.tokens -= static_cast<double>(answer.granted);
  }
  answer.tokens_left = static_cast<std::int64_t>(std::floor(bucket.tokens));
  return answer;
}

}  // namespace bulwark::core
