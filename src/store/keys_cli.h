// `bulwark keys create|list|revoke|rotate` (DESIGN.md §5): everything but the
// argument parsing, which main.cpp does with CLI11 into keys_cli_options.
//
// Output contract:
//   create / rotate: the new key alone on the first line of stdout (so that
//     `KEY=$(bulwark keys create --name ci)` captures it); a note on stderr. With
//     --json, one JSON object (keys_json.h `issued`) on stdout.
//   list: a table (ID NAME SCOPES CREATED LAST_USED EXPIRES STATE), or with
//     --json {"keys":[...]}. Never a secret or a hash.
//   revoke: "revoked ID" or, with --json, the key's record.
// Exit status: 0 done; 1 the store refused (unknown id, revoked key, database
// error, Redis unreachable); 2 a bad argument. Errors go to stderr as "bulwark keys VERB: message".
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "store/api_key.h"
#include "store/key_store.h"

namespace bulwark::store {

enum class keys_action { create, list, revoke, rotate };

struct keys_cli_options {
  keys_action action = keys_action::list;
  std::string db_path;  // resolved by the caller from --db or -c CONFIG (SQLite)
  bool json = false;
  // create
  std::string name;
  std::string scopes;  // "a,b"
  std::optional<std::string> rate;
  std::optional<std::string> expires;  // create, rotate: "90d"
  // revoke, rotate
  std::string id;
  std::string grace = "24h";
};

// Opens the store the command works on, once every argument was checked (a
// typo must not create an empty database, or reach Redis).
using key_store_opener = std::function<outcome<std::shared_ptr<key_store>>()>;

// With the store `open` returns (main.cpp: the configuration's, SQLite or Redis).
int run_keys_command(const keys_cli_options& options, const key_store_opener& open, std::ostream& out,
                     std::ostream& err, wall_time now);
// With the SQLite file options.db_path (--db).
int run_keys_command(const keys_cli_options& options, std::ostream& out, std::ostream& err, wall_time now);

std::string_view to_string(keys_action action);

}  // namespace bulwark::store
