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
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>

#include "config/config.h"
#include "core/gcra.h"
#include "core/key_table.h"
#include "core/sliding_window.h"
#include "core/token_bucket.h"

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

// One key's limiter, of the policy's algorithm.
class limiter_cell {
 public:
  limiter_cell(const core::rate_limit_spec& spec, config::limit_algorithm algorithm)
      : algorithm_(make(spec, algorithm)) {}

  core::rate_limiter& get() {
    return std::visit([](auto& limiter) -> core::rate_limiter& { return limiter; }, algorithm_);
  }

 private:
  using any_limiter = std::variant<core::token_bucket, core::gcra, core::sliding_window>;
  // A prvalue, so the (immovable, atomic-holding) limiter is built in place.
  static any_limiter make(const core::rate_limit_spec& spec, config::limit_algorithm algorithm);

  any_limiter algorithm_;
};

class policy_state {
 public:
  // Throws std::invalid_argument like spec_of().
  explicit policy_state(const config::rate_limit_policy& policy);

  // The limiter of `key`, kept alive while the pin is held even if the key is
  // evicted meanwhile (so a refund reaches the limiter the admission took from).
  class pinned {
   public:
    core::rate_limiter* operator->() const { return limiter_; }
    core::rate_limiter& operator*() const { return *limiter_; }

   private:
    friend class policy_state;
    core::rate_limiter* limiter_ = nullptr;
    core::key_table<limiter_cell>::handle hold_;
  };

  // Created with a full quota if absent; counts as a use of the key.
  pinned find(std::string_view key);

  bool single_key() const { return single_.has_value(); }
  // Keys held now (1 for a single-key policy), at most the policy's max_keys.
  std::size_t size() const { return table_ ? table_->size() : 1; }
  bool contains_for_test(std::string_view key) const { return !table_ || table_->contains(key); }

 private:
  std::optional<limiter_cell> single_;
  std::unique_ptr<core::key_table<limiter_cell>> table_;
};

}  // namespace bulwark::policy::ratelimit
