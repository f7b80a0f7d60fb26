#include "admin/keys_api.h"

#include <nlohmann/json.hpp>

#include "cluster/key_store_factory.h"
#include "http/problem.h"
#include "observe/log.h"
#include "policy/auth/credentials.h"
#include "store/key_store.h"
#include "store/keys_json.h"

namespace bulwark::admin {
namespace {

using nlohmann::json;
constexpr std::string_view keys_path = "/admin/keys";

admin_response problem_response(unsigned status, std::string_view detail) {
  auto problem = http::problem(status, detail, "");
  return {status, problem.content_type, problem.body};
}

admin_response json_response(unsigned status, const json& body) {
  return {status, "application/json", body.dump() + "\n"};
}

unsigned status_of(store::store_errc code) {
  switch (code) {
    case store::store_errc::invalid_argument: return 400;
    case store::store_errc::not_found: return 404;
    case store::store_errc::conflict: return 409;
    case store::store_errc::database: return 500;
    case store::store_errc::unavailable: return 503;
  }
  return 500;
}

admin_response store_failure(const store::store_error& error) {
  return problem_response(status_of(error.code), error.message);
}

// A request body as JSON: null when empty (every field defaulted), nullopt
// when it is not JSON at all.
std::optional<json> parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return json(nullptr);
  auto parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

// The store and, when the gateway runs with it, its live key source.
struct key_access {
  std::shared_ptr<store::key_store> store;
  std::shared_ptr<policy::auth::api_key_source> source;

  // After a change: the running cache sees it before the admin answers.
  void refresh() const {
    if (!source) return;
    if (auto refreshed = source->cache()->refresh(); !refreshed.ok()) {
      // The watcher's next poll retries; the change itself is committed.
      observe::log(observe::log_level::error, "api key cache refresh failed",
                   {{"store", source->name()}, {"error", refreshed.error.message}});
    }
  }
};

}  // namespace

admin_response handle_keys(std::string_view method, std::string_view path, std::string_view body,
                           const config::gateway_config* config, store::wall_time now) {
  if (config == nullptr || !config->auth.api_keys) {
    return problem_response(404, "no API key store: the configuration has no auth.api_keys");
  }
  // Which key, and which action, the path names.
  std::string_view rest = path.substr(keys_path.size());
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  std::string_view id = rest.substr(0, rest.find('/'));
  std::string_view action;
  if (id.size() < rest.size()) action = rest.substr(id.size() + 1);
  if (!rest.empty() && (id.empty() || !store::is_valid_key_id(id))) {
    return problem_response(404, "no such key");
  }
  if (!action.empty() && action != "rotate") return problem_response(404, "no such admin endpoint");

  if (id.empty()) {
    if (method != "GET" && method != "POST") return problem_response(405, "use GET or POST");
  } else if (action.empty()) {
    if (method != "GET" && method != "DELETE") return problem_response(405, "use GET or DELETE");
  } else if (method != "POST") {
    return problem_response(405, "use POST");
  }

  // Validate the body before touching the database.
  std::optional<store::new_key_request> create;
  std::optional<store::rotate_request> rotate;
  if (method == "POST") {
    const auto parsed = parse_body(body);
    if (!parsed) return problem_response(400, "the body is not valid JSON");
    if (id.empty()) {
      auto request = store::new_key_request_from_json(*parsed);
      if (!request.ok()) return store_failure(request.error);
      create = std::move(*request.value);
    } else {
      auto request = store::rotate_request_from_json(id, *parsed);
      if (!request.ok()) return store_failure(request.error);
      rotate = std::move(*request.value);
    }
  }

  // The running gateway's store (SQLite or the cluster's Redis), or one
  // opened for this request when no snapshot holds it.
  key_access access;
  access.source = policy::auth::find_api_key_source(policy::auth::key_store_name(*config));
  if (access.source) access.store = access.source->store();
  if (!access.store) {
    auto opened = cluster::open_key_store(*config);
    if (!opened.ok()) return store_failure(opened.error);
    access.store = std::move(*opened.value);
  }
  auto& keys = *access.store;

  if (create) {
    auto issued = keys.create(*create, now);
    if (!issued.ok()) return store_failure(issued.error);
    access.refresh();
    observe::log(observe::log_level::info, "api key created",
                 {{"id", issued.value->record.id}, {"name", issued.value->record.name}});
    return json_response(201, store::issued_to_json(*issued.value));
  }
  if (rotate) {
    auto issued = keys.rotate(*rotate, now);
    if (!issued.ok()) return store_failure(issued.error);
    access.refresh();
    observe::log(observe::log_level::info, "api key rotated",
                 {{"id", std::string(id)}, {"new_id", issued.value->record.id}});
    return json_response(201, store::issued_to_json(*issued.value));
  }
  if (id.empty()) {
    auto listed = keys.list();
    if (!listed.ok()) return store_failure(listed.error);
    return json_response(200, store::list_to_json(*listed.value, now));
  }
  if (method == "DELETE") {
    auto revoked = keys.revoke(id, now);
    if (!revoked.ok()) return store_failure(revoked.error);
    access.refresh();
    observe::log(observe::log_level::info, "api key revoked", {{"id", std::string(id)}});
    return json_response(200, store::record_to_json(*revoked.value, now));
  }
  auto found = keys.get(id);
  if (!found.ok()) return store_failure(found.error);
  return json_response(200, store::record_to_json(*found.value, now));
}

}  // namespace bulwark::admin
