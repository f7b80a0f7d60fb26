#include "store/keys_cli.h"

#include <algorithm>
#include <array>

#include "store/keys_json.h"
#include "store/sqlite_key_store.h"

namespace bulwark::store {
namespace {

int exit_code(store_errc code) { return code == store_errc::invalid_argument ? 2 : 1; }

int fail(std::ostream& err, keys_action action, const store_error& error) {
  err << "bulwark keys " << to_string(action) << ": " << error.message << '\n';
  return exit_code(error.code);
}

std::string time_or_dash(const std::optional<wall_time>& t) { return t ? format_time(*t) : "-"; }

void print_table(std::ostream& out, const std::vector<key_record>& records, wall_time now) {
  constexpr std::size_t columns = 7;
  std::vector<std::array<std::string, columns>> rows;
  rows.push_back({"ID", "NAME", "SCOPES", "CREATED", "LAST_USED", "EXPIRES", "STATE"});
  for (const auto& r : records) {
    rows.push_back({r.id, r.name, r.scopes.empty() ? "-" : join_scopes(r.scopes), format_time(r.created_at),
                    time_or_dash(r.last_used_at), time_or_dash(r.expires_at), std::string(to_string(r.state(now)))});
  }
  std::array<std::size_t, columns> width{};
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < columns; ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < columns; ++c) {
      line.append(row[c]);
      if (c + 1 < columns) line.append(width[c] - row[c].size() + 2, ' ');
    }
    out << line << '\n';
  }
}

// The key alone on stdout's first line; the rest on stderr, so that $(...)
// captures exactly the key.
void print_issued(std::ostream& out, std::ostream& err, const keys_cli_options& options, const issued_key& issued) {
  if (options.json) {
    out << issued_to_json(issued).dump() << '\n';
  } else {
    out << issued.key << '\n';
  }
  err << (issued.replaced ? "rotated " : "created ") << "key " << issued.record.id << " (" << issued.record.name
      << "), expires " << (issued.record.expires_at ? format_time(*issued.record.expires_at) : "never");
  if (issued.replaced) {
    err << "; " << issued.replaced->id << " stays valid until " << time_or_dash(issued.replaced->expires_at);
  }
  err << ". The key is shown only now: store it safely.\n";
}

}  // namespace

std::string_view to_string(keys_action action) {
  switch (action) {
    case keys_action::create: return "create";
    case keys_action::list: return "list";
    case keys_action::revoke: return "revoke";
    case keys_action::rotate: return "rotate";
  }
  return "?";
}

int run_keys_command(const keys_cli_options& options, std::ostream& out, std::ostream& err, wall_time now) {
  const auto open_file = [&options]() -> outcome<std::shared_ptr<key_store>> {
    if (options.db_path.empty()) {
      return outcome<std::shared_ptr<key_store>>::failure(store_errc::invalid_argument,
                                                          "no database: pass --db PATH or -c CONFIG");
    }
    auto opened = sqlite_key_store::open(options.db_path);
    if (!opened.ok()) return outcome<std::shared_ptr<key_store>>::failure(opened.error);
    return outcome<std::shared_ptr<key_store>>::success(std::move(*opened.value));
  };
  return run_keys_command(options, open_file, out, err, now);
}

int run_keys_command(const keys_cli_options& options, const key_store_opener& open, std::ostream& out,
                     std::ostream& err, wall_time now) {
  const auto action = options.action;
  const auto invalid = [&](std::string message) {
    return fail(err, action, store_error{store_errc::invalid_argument, std::move(message)});
  };

  // Check every argument before the file is created or opened: a typo must not
  // leave an empty database behind.
  new_key_request create;
  rotate_request rotate;
  if (action == keys_action::create) {
    create.name = options.name;
    create.scopes = split_scopes(options.scopes);
    create.rate = options.rate;
    if (options.expires) {
      auto parsed = parse_key_duration(*options.expires);
      if (!parsed.ok()) return invalid("--expires: " + parsed.error.message);
      create.expires_in = *parsed.value;
    }
    if (auto problem = check_request(create); !problem.empty()) return invalid("--" + problem);
  }
  if (action == keys_action::revoke || action == keys_action::rotate) {
    if (!is_valid_key_id(options.id)) {
      // Not echoed: it may be a whole key pasted by mistake.
      return invalid("expected a key id (the 12 characters that `bulwark keys list` shows in ID)");
    }
  }
  if (action == keys_action::rotate) {
    rotate.id = options.id;
    auto grace = parse_key_duration(options.grace);
    if (!grace.ok()) return invalid("--grace: " + grace.error.message);
    rotate.grace = *grace.value;
    if (options.expires) {
      auto parsed = parse_key_duration(*options.expires);
      if (!parsed.ok()) return invalid("--expires: " + parsed.error.message);
      if (parsed.value->count() == 0) return invalid("--expires: must be more than 0");
      rotate.expires_in = *parsed.value;
    }
  }
  auto opened = open();
  if (!opened.ok()) return fail(err, action, opened.error);
  auto& store = **opened.value;

  switch (action) {
    case keys_action::create: {
      auto issued = store.create(create, now);
      if (!issued.ok()) return fail(err, action, issued.error);
      print_issued(out, err, options, *issued.value);
      return 0;
    }
    case keys_action::list: {
      auto records = store.list();
      if (!records.ok()) return fail(err, action, records.error);
      if (options.json) {
        out << list_to_json(*records.value, now).dump() << '\n';
      } else {
        print_table(out, *records.value, now);
      }
      return 0;
    }
    case keys_action::revoke: {
      auto record = store.revoke(options.id, now);
      if (!record.ok()) return fail(err, action, record.error);
      if (options.json) {
        out << record_to_json(*record.value, now).dump() << '\n';
      } else {
        out << "revoked " << record.value->id << '\n';
      }
      return 0;
    }
    case keys_action::rotate: {
      auto issued = store.rotate(rotate, now);
      if (!issued.ok()) return fail(err, action, issued.error);
      print_issued(out, err, options, *issued.value);
      return 0;
    }
  }
  return 2;
}

}  // namespace bulwark::store
