// JSON forms of the key store's results, shared by `bulwark keys --json` and the
// admin API (GET|POST /admin/keys, DELETE /admin/keys/{id},
// POST /admin/keys/{id}/rotate), so both speak exactly the same shapes:
//
//   record:  {"id","name","scopes":[...],"rate":"100/s"|null,"created":RFC3339,
//             "last_used":RFC3339|null,"expires":RFC3339|null,"state":"active"|
//             "revoked"|"expired"|"rotating","revoked_at":..|null,"replaced_by":id|null}
//   issued:  {"id","key","name","scopes","rate","expires"} and, after a rotation,
//            "replaces": {"id","expires"} (the old key and the end of its grace)
//   list:    {"keys":[record...]}
//   error:   {"error": "...", "code": "invalid_argument"|"not_found"|"conflict"|"database"}
//
// A record never carries the secret or its hash; only `issued` carries the key.
#pragma once

#include <nlohmann/json.hpp>

#include <string_view>
#include <vector>

#include "store/api_key.h"
#include "store/key_store.h"

namespace bulwark::store {

nlohmann::json record_to_json(const key_record& record, wall_time now);
nlohmann::json issued_to_json(const issued_key& issued);
nlohmann::json list_to_json(const std::vector<key_record>& records, wall_time now);
nlohmann::json error_to_json(const store_error& error);
std::string_view to_string(store_errc code);

// The body of POST /admin/keys: {"name": "...", "scopes": ["a","b"] or "a,b",
// "rate": "100/s", "expires": "90d"}; only name is required. Unknown fields are
// an error, as in the config file.
outcome<new_key_request> new_key_request_from_json(const nlohmann::json& body);
// The body of POST /admin/keys/{id}/rotate: {"grace": "24h", "expires": "90d"},
// both optional (grace defaults to 24h). `id` comes from the path.
outcome<rotate_request> rotate_request_from_json(std::string_view id, const nlohmann::json& body);

// `90d`, `24h`, `30m`... as whole seconds (core::parse_duration, which takes d
// for days). Sub-second values are refused: expiry is a matter of days.
outcome<std::chrono::seconds> parse_key_duration(std::string_view text);

}  // namespace bulwark::store
