#include "policy/ratelimit/policy_set.h"

#include <openssl/evp.h>

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <stdexcept>

#include "policy/ratelimit/fields.h"
#include "policy/ratelimit/structured_fields.h"

namespace bulwark::policy::ratelimit {
namespace {

using kind = config::limit_key::kind;

std::string bounded(std::string_view value) {
  if (value.size() <= max_key_bytes) return std::string(value);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(value.data(), value.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return std::string(value.substr(0, max_key_bytes));  // not expected; still bounded
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string key = "sha256:";
  for (unsigned i = 0; i < 16 && i < length; ++i) {
    key += hex[digest[i] >> 4];
    key += hex[digest[i] & 0xf];
  }
  return key;
}

// Distinct routes and policies map to distinct carried-state names even if
// the names themselves contain the separator.
std::string state_name(const std::string& route, const std::string& policy) {
  std::string name = std::to_string(route.size());
  name += ':';
  name += route;
  name += '/';
  name += policy;
  return name;
}

}  // namespace

std::optional<std::string> key_of(const config::limit_key& key, const request_keys& request) {
  switch (key.source) {
    case kind::client_ip:
      return request.client_ip();
    case kind::api_key: {
      const auto id = request.api_key_id();
      if (!id || id->empty()) return std::nullopt;
      return bounded(*id);
    }
    case kind::jwt_claim: {
      const auto claim = request.jwt_claim(key.name);
      if (!claim) return std::nullopt;
      return bounded(*claim);
    }
    case kind::header: {
      const auto value = request.header(key.name);
      return value ? bounded(*value) : std::string();
    }
    case kind::route:
    case kind::global:
      return std::string();
  }
  return std::nullopt;
}

policy_set::policy_set(const config::route& route, phase::carried_state::generation& states,
                       const observe::gateway_metrics* metrics) {
  std::vector<named_quota> quotas;
  for (const auto& settings : route.rate_limits) {
    if (!sf::is_valid_string(settings.name)) {
      throw std::invalid_argument("rate limit \"" + settings.name +
                                  "\": the name must be printable ASCII to appear in RateLimit fields");
    }
    policy p{.name = settings.name, .key = settings.key, .state = nullptr, .quota = {},
             .metrics = std::nullopt, .limit_field = limit_field_format::for_policy(settings.name)};
    try {
      p.quota = describe(settings);
      quotas.push_back({settings.name, p.quota});
      // A cluster policy's name in Redis: what an operator reads in a key.
      std::string shared_name =
          (settings.key.source == kind::global ? std::string("global") : route.name) + "/" + settings.name;
      auto make = [&settings, &shared_name] { return std::make_shared<policy_state>(settings, shared_name); };
      p.state = settings.key.source == kind::global
                    ? states.obtain<policy_state>("ratelimit-global", settings.name, settings, make)
                    : states.obtain<policy_state>("ratelimit", state_name(route.name, settings.name),
                                                  settings, make);
    } catch (const std::invalid_argument& error) {
      throw std::invalid_argument("rate limit \"" + settings.name + "\": " + error.what());
    }
    if (metrics != nullptr) p.metrics = metrics->for_rate_limit(route.name, settings.name);
    policies_.push_back(std::move(p));
  }
  // Names were checked above and numbers are clamped, so this cannot fail.
  policy_field_ = format_policy_field(quotas).value_or(std::string());
}

std::vector<std::shared_ptr<core::lease_pool>> policy_set::lease_pools() const {
  std::vector<std::shared_ptr<core::lease_pool>> pools;
  for (const auto& p : policies_) {
    if (p.state->lease_pool()) pools.push_back(p.state->lease_pool());
  }
  return pools;
}

struct policy_set::applied {
  const policy* settings;
  policy_state::pinned limiter;
  core::rate_limit_decision decision;
};

// Only a request whose override applied pays for a field of its own.
std::optional<std::string> policy_set::overridden_policy_field(std::span<const applied> applying) const {
  const bool overridden = std::any_of(applying.begin(), applying.end(), [](const applied& a) {
    return a.limiter.override_quota().has_value();
  });
  if (!overridden) return std::nullopt;
  std::vector<named_quota> quotas;
  quotas.reserve(policies_.size());
  for (const auto& p : policies_) quotas.push_back({p.name, p.quota});
  for (const auto& a : applying) {
    if (const auto& quota = a.limiter.override_quota()) {
      quotas[static_cast<std::size_t>(a.settings - policies_.data())].quota = *quota;
    }
  }
  // The names passed when the set was built and numbers are clamped: cannot fail.
  return format_policy_field(quotas);
}

verdict policy_set::evaluate(const request_keys& request, core::time_point now,
                             std::size_t thread) const {
  // On the stack for the usual handful of policies.
  boost::container::small_vector<applied, 4> applying;
  applying.reserve(policies_.size());
  for (const auto& p : policies_) {
    auto key = key_of(p.key, request);
    // The key's rate override goes along; find() applies it only where the
    // key is what is counted.
    if (key) applying.push_back({&p, p.state->find(*key, request.api_key_rate()), {}});
  }
  verdict result;
  result.route_policy_field = policy_field_;
  result.overridden_policy_field = overridden_policy_field({applying.data(), applying.size()});
  if (applying.empty()) return result;

  // Refusal: every refusing policy counts a deny; the field and Retry-After
  // follow the one whose quota comes back last, since the request needs all.
  auto refuse = [&](std::span<applied> refusing) {
    const applied* last = nullptr;
    for (const auto& a : refusing) {
      if (a.decision.allowed) continue;
      record(*a.settings, thread, observe::limit_decision::deny);
      if (last == nullptr || a.decision.retry_after > last->decision.retry_after) last = &a;
    }
    result.allowed = false;
    result.refused_by = static_cast<std::size_t>(last->settings - policies_.data());
    result.retry_after_seconds = std::max<std::uint64_t>(1, seconds_up(last->decision.retry_after));
    result.limit_field =
        last->settings->limit_field->format(last->decision.remaining, last->decision.reset_after);
    return result;
  };

  if (applying.size() == 1) {
    auto& only = applying.front();
    only.decision = only.limiter->try_acquire(now);
    if (!only.decision.allowed) return refuse({applying.data(), applying.size()});
  } else {
    bool all_admit = true;
    for (auto& a : applying) {
      a.decision = a.limiter->peek(now);
      all_admit = all_admit && a.decision.allowed;
    }
    if (!all_admit) return refuse({applying.data(), applying.size()});
    for (std::size_t i = 0; i < applying.size(); ++i) {
      applying[i].decision = applying[i].limiter->try_acquire(now);
      if (applying[i].decision.allowed) continue;
      for (std::size_t j = 0; j < i; ++j) applying[j].limiter->refund(now);
      return refuse(std::span<applied>(&applying[i], 1));
    }
  }

  // Admitted by all: the field shows the policy closest to refusal, the
  // fewest units left, then the longest until its quota is back.
  const applied* closest = nullptr;
  for (const auto& a : applying) {
    record(*a.settings, thread, observe::limit_decision::allow);
    if (closest == nullptr || a.decision.remaining < closest->decision.remaining ||
        (a.decision.remaining == closest->decision.remaining &&
         a.decision.reset_after > closest->decision.reset_after)) {
      closest = &a;
    }
  }
  result.limit_field =
      closest->settings->limit_field->format(closest->decision.remaining, closest->decision.reset_after);
  return result;
}

}  // namespace bulwark::policy::ratelimit
