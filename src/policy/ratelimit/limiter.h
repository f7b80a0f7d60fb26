// The state of one rate-limit policy: a limiter per key, bounded.
//
// A policy keyed by client, credential or header holds its limiters in a
// core::key_table capped at the policy's max_keys (least recently used keys
// are forgotten beyond it: a spray of distinct keys cannot grow memory, and a
// forgotten key comes back with a full quota). A policy keyed by `route` or
// `global` has exactly one limiter and no table.
//
// policy_state is what carried_state keeps across reloads: an unchanged
// policy keeps its object, so its buckets keep their tokens.
//
// A policy of `scope: cluster` keeps the same table, of core::leased_bucket
// cells: each key's allowance, topped up from Redis by the cluster thread
// (src/cluster, docs/cluster.md). The state's lease_pool is what the cluster
// thread is given (lease_pool()); a cell joins the pool's list on its first
// use, with a handle of its table slot as the reference that keeps it alive.
// Route- and global-keyed cluster policies use the table too, with the one
// key "", so that their cell can be listed the same way. Rate overrides apply
// in local policies only: a cluster policy limits every key at its own rate.
//
// A policy keyed by `api_key` limits a key that carries a rate override
// (`bulwark keys create --rate`) at that rate (override_spec); its table keys
// each limiter by the key AND the rate it was built at, so a key whose
// override changes gets a new limiter at the new rate (see rated_key in
// limiter.cpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

#include "config/config.h"
#include "core/gcra.h"
#include "core/key_table.h"
#include "core/leased_bucket.h"
#include "core/sliding_window.h"
#include "core/token_bucket.h"
#include "core/units.h"

namespace bulwark::policy::ratelimit {

// The limiter spec a policy describes. Throws std::invalid_argument when its
// numbers cannot make a limiter (validation rejects such configs first).
core::rate_limit_spec spec_of(const config::rate_limit_policy& policy);

// What RateLimit-Policy advertises for a policy (`q` and `w`):
// - token_bucket, gcra: q = burst, the most a client can send at once, and
//   w = the time the limiter takes to restore q from empty, burst / rate, in
//   whole seconds rounded up. So q per w is the sustained rate (exactly when
//   burst is the rate's count per its period, the default: `5/min` is q=5;w=60),
//   and never more: a client that sends q per w is never refused, because in
//   w seconds at least q units come back. (The other reading, q = burst and
//   w = the period as written, would promise 5 per second for `100/s burst 5`.)
// - sliding_window: q = count and w = the period: its very definition.
// q is also what `r` in RateLimit counts down from.
struct quota_policy {
  std::uint64_t quota = 0;
  std::uint64_t window_seconds = 0;
};
quota_policy describe(const config::rate_limit_policy& policy);
quota_policy describe(const core::rate_limit_spec& spec, config::limit_algorithm algorithm);

// The spec a key with the rate override `rate` is limited at, under a policy
// of spec `policy` enforced by `algorithm`. The override replaces the rate;
// the burst keeps the policy's proportion to its count:
//   burst = ceil(rate.count * policy.burst / policy.count).
// So under a policy whose burst is the default (its rate's count), a key with
// `--rate 100/s` is limited exactly as by `rate: 100/s`: 100 at once, 100 per
// second, advertised q=100;w=1. That is what the key's owner reads into
// "100/s", and what Envoy (a token bucket per descriptor, or requests_per_unit
// per unit) and Kong (a limit per consumer per window) give. A policy written
// with a smoothing burst (`100/s, burst: 10`) or a generous one (`10/s,
// burst: 50`) keeps that shape at the key's rate. Keeping the policy's burst
// as is would not: a `1/s` key under a `100/s` policy could send 100 at once,
// and a `1000/s` key under `10/s` would be refused beyond 10 at once and told
// q=10;w=1.
// nullopt when no limiter of `algorithm` can honour the result (a sliding
// window's count over 2^20 - 1, burst x per/count over 2^62 ns): the key then
// gets the policy's own spec. Allocates nothing, throws nothing.
std::optional<core::rate_limit_spec> override_spec(const core::rate_limit_spec& policy,
                                                   config::limit_algorithm algorithm,
                                                   const core::rate& rate) noexcept;

// One key's limiter, of the policy's algorithm.
class limiter_cell {
 public:
  limiter_cell(const core::rate_limit_spec& spec, config::limit_algorithm algorithm)
      : algorithm_(make(spec, algorithm)) {}
  // A cluster-scope key: an allowance leased through `pool`.
  explicit limiter_cell(core::lease_pool& pool)
      : algorithm_(std::in_place_type<core::leased_bucket>, pool) {}

  core::rate_limiter& get() {
    return std::visit([](auto& limiter) -> core::rate_limiter& { return limiter; }, algorithm_);
  }
  // The allowance of a cluster-scope key; null for a local one.
  core::leased_bucket* leased() { return std::get_if<core::leased_bucket>(&algorithm_); }

 private:
  using any_limiter =
      std::variant<core::token_bucket, core::gcra, core::sliding_window, core::leased_bucket>;
  // A prvalue, so the (immovable, atomic-holding) limiter is built in place.
  static any_limiter make(const core::rate_limit_spec& spec, config::limit_algorithm algorithm);

  any_limiter algorithm_;
};

class policy_state {
 public:
  // Throws std::invalid_argument like spec_of(). `shared_name` names a
  // cluster-scope policy in Redis (route/policy, or global/policy).
  explicit policy_state(const config::rate_limit_policy& policy, std::string shared_name = {});

  // The limiter of a key, kept alive while the pin is held even if the key is
  // evicted meanwhile (so a refund reaches the limiter the admission took from).
  class pinned {
   public:
    core::rate_limiter* operator->() const { return limiter_; }
    core::rate_limiter& operator*() const { return *limiter_; }
    // What RateLimit-Policy advertises for this key when a rate override
    // applied to it; nullopt when it is limited at the policy's own rate.
    const std::optional<quota_policy>& override_quota() const { return override_quota_; }

   private:
    friend class policy_state;
    core::rate_limiter* limiter_ = nullptr;
    core::key_table<limiter_cell>::handle hold_;
    std::optional<quota_policy> override_quota_;
  };

  // The limiter of `key`, created with a full quota if absent; counts as a use
  // of the key. `rate`, the key's rate override, counts only in a policy keyed
  // by `api_key` (every other ignores it) and only when override_spec() can
  // honour it. Allocates nothing on a hit beyond what the table does.
  pinned find(std::string_view key, const std::optional<core::rate>& rate = std::nullopt);

  bool single_key() const { return single_.has_value(); }
  // The pool the cluster thread tops this policy's allowances up through;
  // null for a local policy.
  const std::shared_ptr<core::lease_pool>& lease_pool() const { return pool_; }
  // Keys held now (1 for a single-key policy), at most the policy's max_keys.
  // A key held at two rates (its override changed) counts twice until the
  // older one ages out.
  std::size_t size() const { return table_ ? table_->size() : 1; }
  bool contains_for_test(std::string_view key,
                         const std::optional<core::rate>& rate = std::nullopt) const;

 private:
  struct applied_override {
    core::rate rate;
    core::rate_limit_spec spec;
  };
  // The override this policy applies for a key's `rate`; nullopt when the key
  // is limited at the policy's own rate.
  std::optional<applied_override> override_for(
      const std::optional<core::rate>& rate) const noexcept;

  core::rate_limit_spec spec_;
  config::limit_algorithm algorithm_;
  bool rate_overrides_ = false;  // keyed by api_key: table keys carry the rate
  std::optional<limiter_cell> single_;
  // Declared before the table, so the table (and its cells, which point at the
  // pool) goes first.
  std::shared_ptr<core::lease_pool> pool_;
  std::unique_ptr<core::key_table<limiter_cell>> table_;
};

}  // namespace bulwark::policy::ratelimit
