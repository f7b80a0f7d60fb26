#include "store/key_store.h"

#include <algorithm>

#include "core/units.h"

namespace bulwark::store {

std::string id_error() {
  return "not a key id: expected the 12 characters (a-z, 2-7) that `bulwark keys list` shows";
}

std::string check_request(const new_key_request& request) {
  if (auto error = check_name(request.name); !error.empty()) return "name: " + error;
  if (auto error = check_scopes(request.scopes); !error.empty()) return "scopes: " + error;
  if (request.rate) {
    const auto rate = core::parse_rate(*request.rate);
    if (!rate.ok()) {
      std::string message = "rate: ";
      message.append(rate.error).append(" (got ").append(*request.rate).append(")");
      return message;
    }
  }
  if (request.expires_in && request.expires_in->count() <= 0) return "expires: must be more than 0";
  return {};
}

store_error check_rotate_request(const rotate_request& request) {
  if (!is_valid_key_id(request.id)) return {store_errc::invalid_argument, id_error()};
  if (request.grace.count() < 0) return {store_errc::invalid_argument, "grace: must not be negative"};
  if (request.expires_in && request.expires_in->count() <= 0) {
    return {store_errc::invalid_argument, "expires: must be more than 0"};
  }
  return {store_errc::invalid_argument, {}};
}

outcome<rotation_plan> plan_rotation(const key_record& old, const rotate_request& request, wall_time now) {
  using result = outcome<rotation_plan>;
  switch (old.state(now)) {
    case key_state::revoked:
      return result::failure(store_errc::conflict, "key " + request.id + " is revoked; create a new key instead");
    case key_state::expired:
      return result::failure(store_errc::conflict, "key " + request.id + " has expired; create a new key instead");
    case key_state::rotating:
      return result::failure(store_errc::conflict,
                             "key " + request.id + " was already rotated to " + *old.replaced_by);
    case key_state::active:
      break;
  }
  rotation_plan plan;
  if (request.expires_in) {
    plan.new_expiry = now + *request.expires_in;
  } else if (old.expires_at) {
    plan.new_expiry = now + (*old.expires_at - old.created_at);
  }
  const wall_time grace_end = now + request.grace;
  plan.old_expiry = old.expires_at ? std::min(*old.expires_at, grace_end) : grace_end;
  return result::success(plan);
}

}  // namespace bulwark::store
