// Cross-field checks; see validate.h.
#include "config/validate.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "config/concat.h"
#include "config/did_you_mean.h"
#include "core/units.h"

namespace bulwark::config {
namespace {

std::string at(std::string_view list, std::size_t index) {
  return concat({list, "[", std::to_string(index), "]"});
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return text;
}

// Every name of `items` appears once. Empty names were reported when read.
template <class T>
void check_unique_names(const std::vector<T>& items, std::string_view list, std::string_view kind,
                        yaml_reader& in) {
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].name.empty()) continue;
    auto [found, inserted] = first.emplace(items[i].name, i);
    if (!inserted) {
      in.fail(concat({at(list, i), ".name"}),
              concat({"duplicate ", kind, " name; ", at(list, found->second), " has it already"}));
    }
  }
}

void check_addresses(const gateway_config& config, yaml_reader& in) {
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const address& bind = config.listeners[i].bind;
    const std::string path = at("listeners", i) + ".address";
    // Port 0 asks the OS for a free port, so such listeners never collide.
    if (bind.port == 0 || in.failed(path)) continue;
    auto [found, inserted] = first.emplace(bind.text(), i);
    if (!inserted)
      in.fail(path, concat({at("listeners", found->second), " already listens on this address"}));
  }
  const address& admin = config.admin_server.bind;
  auto listener = first.find(admin.text());
  if (admin.port == 0 || listener == first.end() || in.failed("admin.address")) return;
  if (!in.written("admin.address").empty()) {
    in.fail("admin.address",
            concat({at("listeners", listener->second), " already listens on this address"}));
  } else {
    in.fail(concat({at("listeners", listener->second), ".address"}),
            concat({"the admin server listens on this address (admin.address defaults to ",
                    admin.text(), ")"}));
  }
}

void check_pool(upstream& u, const std::string& path, yaml_reader& in) {
  const std::string max_idle = path + ".pool.max_idle";
  const std::string max_connections = path + ".pool.max_connections";
  if (in.failed(max_idle) || in.failed(max_connections)) return;
  if (in.written(max_idle).empty()) {
    // The default (64) adapts to a smaller pool rather than contradict it.
    u.pool.max_idle = std::min(u.pool.max_idle, u.pool.max_connections);
  } else if (u.pool.max_idle > u.pool.max_connections) {
    in.fail(max_idle, concat({"must be at most pool.max_connections (",
                              std::to_string(u.pool.max_connections), ")"}));
  }
}

void check_upstream_reference(route& r, const std::string& path,
                              const std::vector<upstream>& upstreams, yaml_reader& in) {
  const bool names_known =
      !in.failed("upstreams") && std::none_of(upstreams.begin(), upstreams.end(),
                                              [](const upstream& u) { return u.name.empty(); });
  if (r.upstream.empty()) return;
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    if (upstreams[i].name == r.upstream) {
      r.upstream_index = i;
      return;
    }
    names.push_back(upstreams[i].name);
  }
  if (!names_known) return;  // an upstream without a valid name may be the one meant
  std::string message = "no upstream has this name";
  if (auto match = closest_match(r.upstream, names))
    message += concat({"; did you mean `", *match, "`?"});
  in.fail(path + ".upstream", message);
}

void check_match(const route_match& match, const std::string& path, yaml_reader& in) {
  if (match.path && match.path_prefix) {
    in.fail(path + ".match.path", "set either path or path_prefix, not both");
  }
  std::map<std::string, std::string> seen;  // lower-case name -> name as written
  for (const header_match& header : match.headers) {
    auto [found, inserted] = seen.emplace(lower(header.name), header.name);
    if (!inserted) {
      in.fail(concat({path, ".match.headers.", header.name}),
              concat({"header names are case-insensitive: this is ", found->second, " again"}));
    }
  }
}

void check_retry(const route& r, const std::string& path, yaml_reader& in) {
  const std::string per_try = path + ".retry.per_try_timeout";
  if (!r.retry.per_try_timeout || in.failed(per_try) || in.failed(path + ".timeout")) return;
  if (*r.retry.per_try_timeout > r.timeout) {
    in.fail(per_try, concat({"must be at most the route's timeout (",
                             core::format_duration(r.timeout), ")"}));
  }
}

}  // namespace

void validate(gateway_config& config, yaml_reader& in) {
  check_unique_names(config.listeners, "listeners", "listener", in);
  check_unique_names(config.upstreams, "upstreams", "upstream", in);
  check_unique_names(config.routes, "routes", "route", in);
  check_addresses(config, in);
  for (std::size_t i = 0; i < config.upstreams.size(); ++i) {
    check_pool(config.upstreams[i], at("upstreams", i), in);
  }
  for (std::size_t i = 0; i < config.routes.size(); ++i) {
    route& r = config.routes[i];
    const std::string path = at("routes", i);
    check_upstream_reference(r, path, config.upstreams, in);
    check_match(r.match, path, in);
    check_retry(r, path, in);
  }
}

}  // namespace bulwark::config
