#include "policy/ratelimit/limiter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

namespace bulwark::policy::ratelimit {
namespace {

constexpr std::int64_t ns_per_second = 1'000'000'000;

std::uint64_t whole_seconds_up(std::int64_t ns) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(1, (ns + ns_per_second - 1) / ns_per_second));
}

bool keyed_once(const config::limit_key& key) {
  return key.source == config::limit_key::kind::route || key.source == config::limit_key::kind::global;
}

bool same_limits(const core::rate_limit_spec& a, const core::rate_limit_spec& b) {
  return a.count == b.count && a.per == b.per && a.burst == b.burst;
}

// The table key of an api_key policy: the key, then the rate its limiter is
// built at, then a tag byte:
//   <key> 0x00                        the policy's rate
//   <key> <count:8> <per ns:8> 0x01   the override count/per
// Every key of such a table is built here, so the tag is always the last byte
// and the factory reads the rate back unambiguously, whatever bytes the key
// holds. So a key whose override changes (the cache reloaded another rate for
// its id) finds another entry, built at the new rate with a full quota (as a
// changed policy starts full after a reload); the entry at the old rate is no
// longer used and ages out like any idle key, within max_keys. A rotated key
// has a new id, hence its own entry anyway. A 12-character key id with its
// rate is 29 bytes: still inline in its table slot (40 bytes).
constexpr char policy_rate_tag = '\0';
constexpr char override_tag = '\1';
constexpr std::size_t rate_bytes = 2 * sizeof(std::uint64_t);

// In a per-thread buffer, so that no allocation happens once it has grown to
// the longest key; the view lives until the next call on this thread, and the
// table copies the key it keeps.
std::string_view rated_key(std::string_view key, const std::optional<core::rate>& rate) {
  thread_local std::string buffer;
  buffer.assign(key);
  if (!rate) {
    buffer += policy_rate_tag;
    return buffer;
  }
  const std::uint64_t words[2] = {rate->count, static_cast<std::uint64_t>(rate->per.count())};
  char bytes[rate_bytes];
  std::memcpy(bytes, words, rate_bytes);
  buffer.append(bytes, rate_bytes);
  buffer += override_tag;
  return buffer;
}

// The override a rated key names; nullopt for the policy's rate.
std::optional<core::rate> rate_named_by(std::string_view table_key) {
  if (table_key.size() <= rate_bytes || table_key.back() != override_tag) return std::nullopt;
  std::uint64_t words[2];
  std::memcpy(words, table_key.data() + table_key.size() - 1 - rate_bytes, rate_bytes);
  return core::rate{words[0], core::duration{static_cast<std::int64_t>(words[1])}};
}

}  // namespace

core::rate_limit_spec spec_of(const config::rate_limit_policy& policy) {
  core::rate_limit_spec spec;
  const double count = policy.rate_per_period;
  if (count >= 1 && count <= 1e15 && count == std::floor(count) && policy.rate_period.count() > 0) {
    spec.count = static_cast<std::uint64_t>(count);
    spec.per = policy.rate_period;
  } else if (policy.rate_per_second > 0 && policy.rate_per_second < 1e9) {
    // Not written as COUNT/unit (the parser always does): one unit per interval.
    spec.count = 1;
    spec.per = core::duration{static_cast<std::int64_t>(std::ceil(1e9 / policy.rate_per_second))};
  } else {
    throw std::invalid_argument("rate must be positive");
  }
  spec.burst = policy.burst == 0 ? spec.count : policy.burst;
  return spec;
}

quota_policy describe(const config::rate_limit_policy& policy) {
  return describe(spec_of(policy), policy.algorithm);
}

quota_policy describe(const core::rate_limit_spec& spec, config::limit_algorithm algorithm) {
  if (algorithm == config::limit_algorithm::sliding_window) {
    return {spec.count, whole_seconds_up(spec.per.count())};
  }
  // burst * T with T rounded up as the limiters round it; checked_emission_interval
  // guarantees the product fits.
  const auto interval = core::detail::checked_emission_interval(spec);
  return {spec.burst, whole_seconds_up(static_cast<std::int64_t>(spec.burst) * interval)};
}

std::optional<core::rate_limit_spec> override_spec(const core::rate_limit_spec& policy,
                                                   config::limit_algorithm algorithm,
                                                   const core::rate& rate) noexcept {
  if (rate.count == 0 || rate.per.count() <= 0 || rate.per.count() >= core::detail::max_span_ns ||
      policy.count == 0 || policy.burst == 0) {
    return std::nullopt;
  }
  __extension__ using wide = unsigned __int128;
  const wide burst =
      (static_cast<wide>(rate.count) * policy.burst + policy.count - 1) / policy.count;
  if (burst > std::numeric_limits<std::uint64_t>::max()) return std::nullopt;
  const core::rate_limit_spec spec{rate.count, rate.per, static_cast<std::uint64_t>(burst)};
  if (algorithm == config::limit_algorithm::sliding_window) {
    if (spec.count > core::sliding_window::max_count) return std::nullopt;
    return spec;
  }
  // What checked_emission_interval requires, without its exception: the time
  // per unit, rounded up, times the burst fits in 2^62 ns.
  const auto per = static_cast<std::uint64_t>(spec.per.count());
  const std::uint64_t interval = per / spec.count + (per % spec.count != 0 ? 1 : 0);
  if (spec.burst > static_cast<std::uint64_t>(core::detail::max_span_ns) / interval) {
    return std::nullopt;
  }
  return spec;
}

limiter_cell::any_limiter limiter_cell::make(const core::rate_limit_spec& spec,
                                             config::limit_algorithm algorithm) {
  switch (algorithm) {
    case config::limit_algorithm::gcra:
      return any_limiter(std::in_place_type<core::gcra>, spec);
    case config::limit_algorithm::sliding_window:
      return any_limiter(std::in_place_type<core::sliding_window>, spec);
    case config::limit_algorithm::token_bucket:
      break;
  }
  return any_limiter(std::in_place_type<core::token_bucket>, spec);
}

policy_state::policy_state(const config::rate_limit_policy& policy, std::string shared_name)
    : spec_(spec_of(policy)),
      algorithm_(policy.algorithm),
      rate_overrides_(policy.key.source == config::limit_key::kind::api_key &&
                      policy.scope == config::limit_scope::local) {
  const auto spec = spec_;
  const auto algorithm = algorithm_;
  if (policy.scope == config::limit_scope::cluster) {
    // Build a local limiter once all the same: a spec the algorithm refuses
    // fails here, as for a local policy.
    limiter_cell probe(spec, algorithm);
    using table = core::key_table<limiter_cell>;
    const std::size_t max_keys = keyed_once(policy.key) ? 1 : std::max<std::uint64_t>(1, policy.max_keys);
    pool_ = std::make_shared<core::lease_pool>(
        std::move(shared_name), spec,
        algorithm == config::limit_algorithm::sliding_window ? core::shared_algorithm::sliding_window
                                                             : core::shared_algorithm::token_bucket,
        max_keys);
    pool_->set_pin_ops({[](void* pin) { table::handle::adopt(pin); }, &table::handle::detached_key});
    table_ = std::make_unique<table>(max_keys, [pool = pool_.get()](std::string_view) {
      return limiter_cell(*pool);
    });
    return;
  }
  if (keyed_once(policy.key)) {
    single_.emplace(spec, algorithm);
    return;
  }
  // Build one limiter now so that a spec the algorithm refuses (a sliding
  // window over 2^20 - 1) fails here, at configuration time, not per key.
  limiter_cell probe(spec, algorithm);
  const std::size_t max_keys = policy.max_keys == 0 ? 1 : policy.max_keys;
  if (!rate_overrides_) {
    table_ = std::make_unique<core::key_table<limiter_cell>>(
        max_keys, [spec, algorithm](std::string_view) { return limiter_cell(spec, algorithm); });
    return;
  }
  // find() names only overrides that override_spec() accepts, so value_or
  // never picks the policy's spec for a tagged key; it keeps the factory
  // from throwing on the request path all the same.
  table_ = std::make_unique<core::key_table<limiter_cell>>(
      max_keys, [spec, algorithm](std::string_view table_key) {
        const auto rate = rate_named_by(table_key);
        return limiter_cell(rate ? override_spec(spec, algorithm, *rate).value_or(spec) : spec,
                            algorithm);
      });
}

std::optional<policy_state::applied_override> policy_state::override_for(
    const std::optional<core::rate>& rate) const noexcept {
  if (!rate_overrides_ || !rate) return std::nullopt;
  const auto spec = override_spec(spec_, algorithm_, *rate);
  // An override that changes nothing shares the key's entry at the policy's rate.
  if (!spec || same_limits(*spec, spec_)) return std::nullopt;
  return applied_override{*rate, *spec};
}

policy_state::pinned policy_state::find(std::string_view key,
                                        const std::optional<core::rate>& rate) {
  pinned found;
  if (single_) {
    found.limiter_ = &single_->get();
    return found;
  }
  if (pool_) {
    found.hold_ = table_->get(key);
    core::leased_bucket& cell = *found.hold_->leased();
    if (cell.claim_listing()) {
      auto reference = found.hold_;
      pool_->list(cell, reference.detach());
    }
  } else if (!rate_overrides_) {
    found.hold_ = table_->get(key);
  } else {
    const auto applied = override_for(rate);
    if (applied) found.override_quota_ = describe(applied->spec, algorithm_);
    found.hold_ = table_->get(
        rated_key(key, applied ? std::optional<core::rate>(applied->rate) : std::nullopt));
  }
  found.limiter_ = &found.hold_->get();
  return found;
}

bool policy_state::contains_for_test(std::string_view key,
                                     const std::optional<core::rate>& rate) const {
  if (!table_) return true;
  if (!rate_overrides_) return table_->contains(key);
  const auto applied = override_for(rate);
  return table_->contains(
      rated_key(key, applied ? std::optional<core::rate>(applied->rate) : std::nullopt));
}

}  // namespace bulwark::policy::ratelimit
