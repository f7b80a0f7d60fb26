// Hand-made rate-limit configuration for the unit tests (the YAML reader is
// tested in tests/unit/config).
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "config/config.h"
#include "policy/ratelimit/policy_set.h"

namespace bulwark::policy::ratelimit::test {

using kind = config::limit_key::kind;

// `count` per `per` as the loader fills it; burst 0 means "the count".
inline config::rate_limit_policy make_policy(std::string name, kind source, std::uint64_t count,
                                             core::duration per, std::uint64_t burst = 0,
                                             config::limit_algorithm algorithm =
                                                 config::limit_algorithm::token_bucket,
                                             std::string key_name = {}) {
  config::rate_limit_policy p;
  p.name = std::move(name);
  p.key.source = source;
  p.key.name = std::move(key_name);
  p.rate_per_period = static_cast<double>(count);
  p.rate_period = per;
  p.rate_per_second = static_cast<double>(count) / std::chrono::duration<double>(per).count();
  p.burst = burst == 0 ? count : burst;
  p.algorithm = algorithm;
  return p;
}

inline config::route make_route(std::string name, std::vector<config::rate_limit_policy> limits) {
  config::route r;
  r.name = std::move(name);
  r.upstream = "api";
  r.rate_limits = std::move(limits);
  return r;
}

// Every test's "now" starts here: a fixed point, never the clock.
inline const core::time_point start{std::chrono::seconds{1000}};

// A policy set with its own carried state.
struct fixture {
  explicit fixture(const config::route& route, const observe::gateway_metrics* metrics = nullptr)
      : generation(carried.next()), set(route, generation, metrics) {}
  phase::carried_state carried;
  phase::carried_state::generation generation;
  policy_set set;
};

// A request's keys, set by hand.
class fake_request final : public request_keys {
 public:
  std::string ip = "192.0.2.1";
  std::optional<std::string> key_id;
  std::optional<core::rate> key_rate;  // the key's rate override
  std::map<std::string, std::string, std::less<>> claims;
  std::map<std::string, std::string, std::less<>> headers;

  std::string client_ip() const override { return ip; }
  std::optional<std::string_view> api_key_id() const override {
    if (!key_id) return std::nullopt;
    return std::string_view{*key_id};
  }
  std::optional<core::rate> api_key_rate() const override { return key_rate; }
  std::optional<std::string_view> jwt_claim(std::string_view claim) const override {
    const auto found = claims.find(claim);
    if (found == claims.end()) return std::nullopt;
    return std::string_view{found->second};
  }
  std::optional<std::string_view> header(std::string_view name) const override {
    const auto found = headers.find(name);
    if (found == headers.end()) return std::nullopt;
    return std::string_view{found->second};
  }
};

}  // namespace bulwark::policy::ratelimit::test
