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

  if (idle_syncs_ >= settings.rest_after_syncs || settings.closing) {
    // To rest with `keep` paid tokens for the next request: the surplus goes
    // back, a shortfall is leased (only what the shared bucket holds).
    request.rest = true;
    const std::int64_t keep = settings.closing ? 0 : cell.pool().credit();
    const std::int64_t paid = std::max<std::int64_t>(0, expected_ - unpaid_);
    if (paid > keep) {
      const std::int64_t taken = cell.take(paid - keep);
      expected_ -= taken;
      request.give_back = taken;
    } else {
      request.want = keep - paid;
    }
    return request;
  }

  const auto burst = static_cast<double>(cell.spec().burst);
  const double target = std::min(burst, std::ceil(demand_ * settings.horizon_syncs));
  request.want = std::max<std::int64_t>(0, static_cast<std::int64_t>(target) - expected_);
  return request;
}

void lease_ledger::granted(leased_bucket& cell, std::int64_t tokens, std::int64_t shared_tokens) {
  if (tokens > 0) {
    cell.grant(tokens);
    expected_ += tokens;
  }
  cell.set_shared_tokens(shared_tokens);
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
