#include "policy/ratelimit/ratelimit_phase.h"

#include <limits>

#include "http/strings.h"
#include "policy/client_address.h"
#include "policy/ratelimit/fields.h"

namespace bulwark::policy::ratelimit {
namespace {

// The request's keys, read from the context on demand: only the sources some
// policy uses are computed, the client address at most once.
class context_keys final : public request_keys {
 public:
  explicit context_keys(const phase::request_context& ctx) : ctx_(ctx) {}

  std::string client_ip() const override {
    const auto& trusted = ctx_.listener.trusted_proxies;
    if (trusted.empty()) return ctx_.client_ip;
    if (!client_) {
      std::vector<std::string_view> forwarded;
      for (const auto& field : ctx_.request) {
        if (http::iequals(field.name_string(), "X-Forwarded-For"))
          forwarded.emplace_back(field.value());
      }
      client_ = client_address(ctx_.client_ip, forwarded, trusted);
    }
    return *client_;
  }
  std::optional<std::string_view> api_key_id() const override {
    if (ctx_.auth_key_id.empty()) return std::nullopt;
    return std::string_view{ctx_.auth_key_id};
  }
  std::optional<core::rate> api_key_rate() const override { return ctx_.auth_key_rate; }
  std::optional<std::string_view> jwt_claim(std::string_view claim) const override {
    const auto found = ctx_.jwt_claims.find(claim);
    if (found == ctx_.jwt_claims.end()) return std::nullopt;
    return std::string_view{found->second};
  }
  // What the upstream will see: a field the gateway sets in place of the
  // client's (the identity from the auth phase, say), else the first field
  // line of that name the client sent.
  std::optional<std::string_view> header(std::string_view name) const override {
    for (const auto& field : ctx_.upstream_headers) {
      if (http::iequals(field.name, name)) return field.value;
    }
    const auto field = ctx_.request.find(name);
    if (field == ctx_.request.end()) return std::nullopt;
    return field->value();
  }

 private:
  const phase::request_context& ctx_;
  mutable std::optional<std::string> client_;
};

bool is_ratelimit_field(std::string_view name) {
  return name == policy_field_name || name == limit_field_name;
}

}  // namespace

ratelimit_phase::ratelimit_phase(const config::gateway_config& config,
                                 phase::phase_build_context& build)
    : routes_base_(config.routes.data()) {
  for (const auto& route : config.routes) {
    auto& slot = routes_.emplace_back();
    if (route.rate_limits.empty()) continue;
    try {
      slot = std::make_unique<const policy_set>(route, build.states, build.metrics);
      for (auto& pool : slot->lease_pools()) build.lease_pools.push_back(std::move(pool));
    } catch (const std::exception& error) {
      build.problems.push_back("routes \"" + route.name + "\": " + error.what());
    }
  }
}

const policy_set* ratelimit_phase::policies_of(const phase::request_context& ctx) const {
  if (ctx.route == nullptr) return nullptr;
  const auto index = static_cast<std::size_t>(ctx.route - routes_base_);
  return index < routes_.size() ? routes_[index].get() : nullptr;
}

phase::phase_result ratelimit_phase::on_request(phase::request_context& ctx) {
  const policy_set* policies = policies_of(ctx);
  // The clock is read only where a limit applies.
  if (policies == nullptr) return phase::phase_result::proceed;
  return decide(ctx, *policies, http::steady_now());
}

phase::phase_result ratelimit_phase::decide(phase::request_context& ctx,
                                            core::time_point now) const {
  const policy_set* policies = policies_of(ctx);
  if (policies == nullptr) return phase::phase_result::proceed;
  return decide(ctx, *policies, now);
}

phase::phase_result ratelimit_phase::decide(phase::request_context& ctx, const policy_set& policies,
                                            core::time_point now) const {
  const context_keys keys(ctx);
  auto verdict = policies.evaluate(keys, now, ctx.thread);
  ctx.response_headers.reserve(ctx.response_headers.size() + 2);  // one growth, not two
  const auto policy_field = verdict.overridden_policy_field
                                ? ctx.texts.keep(*verdict.overridden_policy_field)
                                : verdict.route_policy_field;  // the pipeline holds the set
  ctx.response_headers.push_back({policy_field_name, policy_field});
  if (verdict.limit_field.empty()) return phase::phase_result::proceed;  // no policy applied
  ctx.response_headers.push_back({limit_field_name, ctx.texts.keep(verdict.limit_field)});
  ctx.ratelimit = verdict.allowed ? "allow" : "deny";
  if (verdict.allowed) return phase::phase_result::proceed;

  std::string detail = "rate limit \"";
  detail += policies.policy_name(verdict.refused_by);
  detail += "\" exceeded";
  const auto seconds = static_cast<unsigned>(std::min<std::uint64_t>(
      verdict.retry_after_seconds, std::numeric_limits<unsigned>::max()));
  ctx.answer = http::problem_retry_after(429, detail, ctx.request_id, seconds);
  for (const auto& [name, value] : ctx.response_headers) {
    if (is_ratelimit_field(name)) ctx.answer->headers.emplace_back(name, value);
  }
  return phase::phase_result::respond;
}

}  // namespace bulwark::policy::ratelimit
