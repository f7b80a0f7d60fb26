#include "store/keys_json.h"

#include "core/units.h"

namespace bulwark::store {
namespace {

nlohmann::json optional_time(const std::optional<wall_time>& t) {
  return t ? nlohmann::json(format_time(*t)) : nlohmann::json(nullptr);
}

nlohmann::json optional_text(const std::optional<std::string>& text) {
  return text ? nlohmann::json(*text) : nlohmann::json(nullptr);
}

}  // namespace

std::string_view to_string(store_errc code) {
  switch (code) {
    case store_errc::invalid_argument: return "invalid_argument";
    case store_errc::not_found: return "not_found";
    case store_errc::conflict: return "conflict";
    case store_errc::database: return "database";
    case store_errc::unavailable: return "unavailable";
  }
  return "database";
}

nlohmann::json record_to_json(const key_record& record, wall_time now) {
  return nlohmann::json{
      {"id", record.id},
      {"name", record.name},
      {"scopes", record.scopes},
      {"rate", optional_text(record.rate)},
      {"created", format_time(record.created_at)},
      {"last_used", optional_time(record.last_used_at)},
      {"expires", optional_time(record.expires_at)},
      {"state", to_string(record.state(now))},
      {"revoked_at", optional_time(record.revoked_at)},
      {"replaced_by", optional_text(record.replaced_by)},
  };
}

nlohmann::json issued_to_json(const issued_key& issued) {
  nlohmann::json out{
      {"id", issued.record.id},
      {"key", issued.key},
      {"name", issued.record.name},
      {"scopes", issued.record.scopes},
      {"rate", optional_text(issued.record.rate)},
      {"expires", optional_time(issued.record.expires_at)},
  };
  if (issued.replaced) {
    out["replaces"] = {{"id", issued.replaced->id}, {"expires", optional_time(issued.replaced->expires_at)}};
  }
  return out;
}

nlohmann::json list_to_json(const std::vector<key_record>& records, wall_time now) {
  auto keys = nlohmann::json::array();
  for (const auto& record : records) keys.push_back(record_to_json(record, now));
  return nlohmann::json{{"keys", std::move(keys)}};
}

nlohmann::json error_to_json(const store_error& error) {
  return nlohmann::json{{"error", error.message}, {"code", to_string(error.code)}};
}

outcome<std::chrono::seconds> parse_key_duration(std::string_view text) {
  using result = outcome<std::chrono::seconds>;
  const auto parsed = core::parse_duration(text);
  if (!parsed.ok()) {
    std::string message = parsed.error;
    message.append(" (got ").append(text).append(")");
    return result::failure(store_errc::invalid_argument, std::move(message));
  }
  if (*parsed.value % std::chrono::seconds(1) != core::duration::zero()) {
    std::string message = "expected whole seconds, e.g. 90d, 24h, 30m (got ";
    message.append(text).append(")");
    return result::failure(store_errc::invalid_argument, std::move(message));
  }
  return result::success(std::chrono::duration_cast<std::chrono::seconds>(*parsed.value));
}

namespace {

template <class T>
outcome<T> invalid(std::string message) {
  return outcome<T>::failure(store_errc::invalid_argument, std::move(message));
}

template <class T>
outcome<T> invalid(std::string_view field, const std::string& message) {
  std::string text(field);
  text.append(": ").append(message);
  return invalid<T>(std::move(text));
}

// A string member, or an error naming the field.
std::optional<std::string> string_field(const nlohmann::json& body, const char* field, std::string& error) {
  const auto found = body.find(field);
  if (found == body.end() || found->is_null()) return std::nullopt;
  if (!found->is_string()) {
    error = field;
    error.append(": expected a string");
    return std::nullopt;
  }
  return found->get<std::string>();
}

std::string unknown_field(const nlohmann::json& body, std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : body.items()) {
    bool found = false;
    for (auto k : known) found = found || name == k;
    if (!found) {
      std::string message = "unknown field \"";
      message.append(name).append("\"");
      return message;
    }
  }
  return {};
}

}  // namespace

outcome<new_key_request> new_key_request_from_json(const nlohmann::json& body) {
  using result = outcome<new_key_request>;
  if (!body.is_object()) return invalid<new_key_request>("expected a JSON object");
  if (auto error = unknown_field(body, {"name", "scopes", "rate", "expires"}); !error.empty()) {
    return invalid<new_key_request>(std::move(error));
  }
  new_key_request request;
  std::string error;
  auto name = string_field(body, "name", error);
  if (!error.empty()) return invalid<new_key_request>(std::move(error));
  if (!name) return invalid<new_key_request>("name: required");
  request.name = std::move(*name);
  if (auto scopes = body.find("scopes"); scopes != body.end() && !scopes->is_null()) {
    if (scopes->is_string()) {
      request.scopes = split_scopes(scopes->get<std::string>());
    } else if (scopes->is_array()) {
      for (const auto& scope : *scopes) {
        if (!scope.is_string()) return invalid<new_key_request>("scopes: expected strings");
        request.scopes.push_back(scope.get<std::string>());
      }
    } else {
      return invalid<new_key_request>("scopes: expected an array of strings");
    }
  }
  request.rate = string_field(body, "rate", error);
  if (!error.empty()) return invalid<new_key_request>(std::move(error));
  auto expires = string_field(body, "expires", error);
  if (!error.empty()) return invalid<new_key_request>(std::move(error));
  if (expires) {
    auto parsed = parse_key_duration(*expires);
    if (!parsed.ok()) return invalid<new_key_request>("expires", parsed.error.message);
    request.expires_in = *parsed.value;
  }
  if (auto problem = check_request(request); !problem.empty()) return invalid<new_key_request>(std::move(problem));
  return result::success(std::move(request));
}

outcome<rotate_request> rotate_request_from_json(std::string_view id, const nlohmann::json& body) {
  using result = outcome<rotate_request>;
  rotate_request request;
  request.id = std::string(id);
  if (body.is_null()) return result::success(std::move(request));  // no body: defaults
  if (!body.is_object()) return invalid<rotate_request>("expected a JSON object");
  if (auto error = unknown_field(body, {"grace", "expires"}); !error.empty()) {
    return invalid<rotate_request>(std::move(error));
  }
  std::string error;
  auto grace = string_field(body, "grace", error);
  if (!error.empty()) return invalid<rotate_request>(std::move(error));
  if (grace) {
    auto parsed = parse_key_duration(*grace);
    if (!parsed.ok()) return invalid<rotate_request>("grace", parsed.error.message);
    request.grace = *parsed.value;
  }
  auto expires = string_field(body, "expires", error);
  if (!error.empty()) return invalid<rotate_request>(std::move(error));
  if (expires) {
    auto parsed = parse_key_duration(*expires);
    if (!parsed.ok()) return invalid<rotate_request>("expires", parsed.error.message);
    if (parsed.value->count() == 0) return invalid<rotate_request>("expires: must be more than 0");
    request.expires_in = *parsed.value;
  }
  return result::success(std::move(request));
}

}  // namespace bulwark::store
