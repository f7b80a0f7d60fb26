// The API-key endpoints of the admin API (DESIGN.md §7):
//
//   GET    /admin/keys                 200 {"keys":[record...]}: never a key or a hash
//   POST   /admin/keys                 {"name","scopes","rate","expires"} -> 201 issued (the key, shown once)
//   GET    /admin/keys/{id}            200 record, 404
//   DELETE /admin/keys/{id}            revoke: 200 record, 404
//   POST   /admin/keys/{id}/rotate     {"grace","expires"} -> 201 issued (+ "replaces"), 404, 409
//
// Shapes are those of `bulwark keys --json` (store/keys_json.h). Errors are
// problem+json: 400 bad JSON or fields, 404 unknown key (or no auth.api_keys
// in the configuration), 409 a key that cannot be rotated, 500 the database.
//
// The change is written through the running gateway's own key store and its
// cache is refreshed before the answer, so a created key works, and a revoked
// one stops working, from the very next request. Runs on the main thread (the
// admin server's), which may wait on SQLite; the workers never do.
#pragma once

#include <string_view>

#include "admin/admin_server.h"
#include "config/config.h"
#include "store/api_key.h"

namespace bulwark::admin {

// `path` is the request path without the query; it starts with /admin/keys.
// `config` is the running configuration (null before start).
admin_response handle_keys(std::string_view method, std::string_view path, std::string_view body,
                           const config::gateway_config* config, store::wall_time now);

}  // namespace bulwark::admin
