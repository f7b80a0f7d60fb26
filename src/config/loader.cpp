// The gateway's configuration schema (DESIGN.md §4): which fields each YAML map
// has, how each is read and checked on its own, and the entry points. Checks
// that relate several fields live in validate.cpp; the generic machinery
// (positions, unknown fields, "not supported yet") in yaml_reader.cpp.
#include "config/loader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "config/concat.h"
#include "config/syntax.h"
#include "config/validate.h"
#include "config/yaml_reader.h"

namespace bulwark::config {
namespace {

// Fields that DESIGN.md §4 describes but this version does not build yet. They
// are refused with "not supported yet" rather than ignored: a user who writes a
// circuit breaker must not believe they have one. To build one, delete its line
// here and add its reader to the field table of its map below.
const std::vector<designed_field> not_supported_yet = {
    {"", "auth"},
    {"", "cluster"},
    {"", "cache"},
    {"listeners[]", "tls"},
    {"upstreams[]", "concurrency"},
    {"upstreams[]", "circuit_breaker"},
    {"upstreams[]", "health_check"},
    {"upstreams[]", "outlier_detection"},
    {"routes[]", "auth"},
    {"routes[]", "rate_limits"},
    {"routes[]", "cache"},
    {"routes[]", "websocket"},
    {"routes[]", "fallback"},
    {"routes[]", "fault"},
    {"routes[].retry", "attempts"},
    {"routes[].retry", "backoff"},
    {"routes[].retry", "on"},
    {"routes[].retry", "methods"},
    {"routes[].retry", "budget"},
    {"routes[].retry", "honor_retry_after"},
};

constexpr uint64_t max_u32 = std::numeric_limits<uint32_t>::max();
// More threads than this is a typo, not a machine (and `auto` exists).
constexpr uint64_t max_workers = 1024;
// A request line, Host and the usual handful of headers take about 1 KiB; a
// smaller limit would answer ordinary requests with 431.
constexpr uint64_t min_header_bytes = 1024;

bool is_environment_variable_name(std::string_view name) {
  const auto letter_or_underscore = [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
  };
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  return !name.empty() && letter_or_underscore(name.front()) &&
         std::all_of(name.begin(), name.end(),
                     [&](char c) { return letter_or_underscore(c) || digit(c); });
}

template <class T, class U>
void assign(T& target, const std::optional<U>& value) {
  if (value) target = T(*value);
}

using field = yaml_reader::field;
using node = YAML::Node;
using path_t = std::string;

// The field tables, one per YAML map, built from a few field kinds so that
// each table reads like the reference in docs/configuration.md.
class schema {
 public:
  explicit schema(yaml_reader& in) : in_(in) {}

  void read(const node& root, gateway_config& config) {
    in_.read_fields(root, "",
                    {
                        {"workers", [&](const node& v,
                                        const path_t& p) { read_workers(v, p, config.workers); }},
                        list("listeners", "listener", config.listeners, &schema::read_listener),
                        list("upstreams", "upstream", config.upstreams, &schema::read_upstream),
                        list("routes", "route", config.routes, &schema::read_route),
                        map("observability", config.observe, &schema::read_observability),
                        map("admin", config.admin_server, &schema::read_admin),
                    });
  }

 private:
  // --- field kinds -------------------------------------------------------------------

  field name(std::string& target) {
    return {"name",
            [&](const node& v, const path_t& p) { assign(target, in_.non_empty_string(v, p)); },
            true};
  }
  field count(std::string_view key, uint32_t& target, uint64_t min) {
    return {key, [&, min](const node& v, const path_t& p) {
              assign(target, in_.integer(v, p, min, max_u32));
            }};
  }
  template <class Duration>
  field timeout(std::string_view key, Duration& target) {
    return {key,
            [&](const node& v, const path_t& p) { assign(target, in_.positive_duration(v, p)); }};
  }
  field bytes(std::string_view key, uint64_t& target) {
    return {key, [&](const node& v, const path_t& p) { assign(target, in_.size(v, p)); }};
  }
  field host_port(std::string_view key, address& target, uint16_t min_port, bool required) {
    return {key,
            [&, min_port](const node& v, const path_t& p) {
              assign(target, in_.host_port(v, p, min_port));
            },
            required};
  }
  template <class T>
  field map(std::string_view key, T& target, void (schema::*read)(const node&, const path_t&, T&)) {
    return {key,
            [this, &target, read](const node& v, const path_t& p) { (this->*read)(v, p, target); }};
  }
  // A list that must hold at least one `kind`.
  template <class T>
  field list(std::string_view key, std::string_view kind, std::vector<T>& items,
             void (schema::*read_item)(const node&, const path_t&, T&)) {
    auto read = [this, kind, &items, read_item](const node& v, const path_t& p) {
      in_.read_list(v, p, [&](const node& item, const path_t& ip) {
        (this->*read_item)(item, ip, items.emplace_back());
      });
      if (v.IsSequence() && v.size() == 0)
        in_.fail(p, concat({"at least one ", kind, " is required"}), "");
    };
    return {key, read, true};
  }

  // --- top level ---------------------------------------------------------------------

  void read_workers(const node& v, const path_t& p, uint32_t& workers) {
    if (v.IsScalar() && v.Scalar() == "auto") {
      workers = 0;
    } else if (!v.IsScalar() || v.Scalar().find_first_not_of("0123456789") != std::string::npos) {
      in_.fail(p,
               concat({"expected auto or a whole number from 1 to ", std::to_string(max_workers)}),
               describe(v));
    } else {
      assign(workers, in_.integer(v, p, 1, max_workers));
    }
  }

  void read_observability(const node& n, const path_t& p, observability& observe) {
    in_.read_fields(
        n, p,
        {
            {"access_log",
             [&](const node& v, const path_t& vp) { read_access_log(v, vp, observe.access_log); }},
            {"request_id_header",
             [&](const node& v, const path_t& vp) {
               assign(observe.request_id_header, header_name(v, vp));
             }},
        });
  }

  // A map {path, format}, or the scalar `off` as a shorthand for {path: off}.
  void read_access_log(const node& n, const path_t& p, access_log_settings& log) {
    if (n.IsScalar()) {
      if (n.Scalar() == "off") {
        log.to = access_log_settings::destination::off;
      } else {
        in_.fail(p, "expected a map like {path: stdout, format: json}, or off");
      }
      return;
    }
    in_.read_fields(
        n, p,
        {
            {"path", [&](const node& v, const path_t& vp) { read_access_log_path(v, vp, log); }},
            {"format",
             [&](const node& v, const path_t& vp) {
               assign(log.line_format, in_.choice<access_log_settings::format>(
                                           v, vp, {{"json", access_log_settings::format::json}}));
             }},
        });
  }

  void read_access_log_path(const node& v, const path_t& p, access_log_settings& log) {
    auto text = in_.string(v, p, "expected stdout, off or a file path");
    if (!text) return;
    if (*text == "stdout") {
      log.to = access_log_settings::destination::stdout_stream;
    } else if (*text == "off") {
      log.to = access_log_settings::destination::off;
    } else if (text->empty()) {
      in_.fail(p, "expected stdout, off or a file path");
    } else {
      log.to = access_log_settings::destination::file;
      log.path = *text;
    }
  }

  void read_admin(const node& n, const path_t& p, admin& admin_server) {
    in_.read_fields(n, p,
                    {
                        host_port("address", admin_server.bind, 0, false),
                        {"token_env",
                         [&](const node& v, const path_t& vp) {
                           assign(admin_server.token_env, environment_variable(v, vp));
                         }},
                    });
  }

  // --- listeners ---------------------------------------------------------------------

  void read_listener(const node& n, const path_t& p, listener& l) {
    in_.read_fields(n, p,
                    {
                        name(l.name),
                        host_port("address", l.bind, 0, true),
                        map("limits", l.limits, &schema::read_limits),
                    });
  }

  void read_limits(const node& n, const path_t& p, listener_limits& limits) {
    in_.read_fields(
        n, p,
        {
            count("max_connections", limits.max_connections, 1),
            count("max_connections_per_ip", limits.max_connections_per_ip, 0),
            {"shed_at",
             [&](const node& v, const path_t& vp) { assign(limits.shed_at, in_.ratio(v, vp)); }},
            timeout("idle_timeout", limits.idle_timeout),
            timeout("header_timeout", limits.header_timeout),
            {"max_header_bytes",
             [&](const node& v, const path_t& vp) {
               read_max_header_bytes(v, vp, limits.max_header_bytes);
             }},
            bytes("max_body_bytes", limits.max_body_bytes),
        });
  }

  void read_max_header_bytes(const node& v, const path_t& p, uint64_t& target) {
    auto size = in_.size(v, p);
    if (size && *size < min_header_bytes) {
      in_.fail(
          p, "must be at least 1KiB: a request line, Host and a few usual headers need that much");
      return;
    }
    assign(target, size);
  }

  // --- upstreams ---------------------------------------------------------------------

  void read_upstream(const node& n, const path_t& p, upstream& u) {
    in_.read_fields(
        n, p,
        {
            name(u.name),
            {"endpoints",
             [&](const node& v, const path_t& vp) { read_endpoints(v, vp, u.endpoints); }, true},
            {"balance", [&](const node& v,
                            const path_t& vp) { assign(u.balance_policy, read_balance(v, vp)); }},
            timeout("connect_timeout", u.connect_timeout),
            map("pool", u.pool, &schema::read_pool),
            count("max_pending", u.max_pending, 0),
        });
  }

  void read_endpoints(const node& v, const path_t& p, std::vector<address>& endpoints) {
    in_.read_list(v, p, [&](const node& item, const path_t& ip) {
      if (auto endpoint = in_.host_port(item, ip, 1)) endpoints.push_back(*endpoint);
    });
    if (v.IsSequence() && v.size() == 0) in_.fail(p, "at least one endpoint is required", "");
  }

  std::optional<balance> read_balance(const node& v, const path_t& p) {
    return in_.choice<balance>(v, p,
                               {
                                   {"round_robin", balance::round_robin},
                                   {"least_request", balance::least_request},
                                   {"random", balance::random},
                               });
  }

  void read_pool(const node& n, const path_t& p, pool_settings& pool) {
    in_.read_fields(n, p,
                    {
                        count("max_connections", pool.max_connections, 1),
                        count("max_idle", pool.max_idle, 0),
                        timeout("idle_timeout", pool.idle_timeout),
                    });
  }

  // --- routes ------------------------------------------------------------------------

  void read_route(const node& n, const path_t& p, route& r) {
    in_.read_fields(n, p,
                    {
                        name(r.name),
                        map("match", r.match, &schema::read_match),
                        {"upstream",
                         [&](const node& v, const path_t& vp) {
                           assign(r.upstream, in_.non_empty_string(v, vp));
                         },
                         true},
                        timeout("timeout", r.timeout),
                        map("retry", r.retry, &schema::read_retry),
                    });
  }

  void read_match(const node& n, const path_t& p, route_match& match) {
    in_.read_fields(
        n, p,
        {
            {"path_prefix",
             [&](const node& v, const path_t& vp) {
               assign(match.path_prefix, request_path(v, vp));
             }},
            {"path",
             [&](const node& v, const path_t& vp) { assign(match.path, request_path(v, vp)); }},
            {"host",
             [&](const node& v, const path_t& vp) { assign(match.host, host_name(v, vp)); }},
            {"methods",
             [&](const node& v, const path_t& vp) { read_methods(v, vp, match.methods); }},
            {"headers",
             [&](const node& v, const path_t& vp) { read_headers(v, vp, match.headers); }},
        });
  }

  void read_retry(const node& n, const path_t& p, retry_policy& retry) {
    in_.read_fields(n, p, {timeout("per_try_timeout", retry.per_try_timeout)});
  }

  std::optional<std::string> request_path(const node& v, const path_t& p) {
    auto text = in_.string(v, p, "expected a path starting with /");
    if (!text) return std::nullopt;
    if (text->empty() || text->front() != '/') {
      in_.fail(p, "must start with /");
      return std::nullopt;
    }
    if (text->find_first_of(" \t\r\n") != std::string::npos) {
      in_.fail(p, "must not contain spaces: a request target never does");
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::string> host_name(const node& v, const path_t& p) {
    constexpr std::string_view expected =
        "expected a host name without a port, like api.example.com";
    auto text = in_.string(v, p, expected);
    if (text && !is_host_name(*text)) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  // The name, not the value: [A-Za-z_][A-Za-z0-9_]*, as a shell can export it.
  std::optional<std::string> environment_variable(const node& v, const path_t& p) {
    constexpr std::string_view expected =
        "expected an environment variable name: letters, digits and _, not starting with a "
        "digit, like BULWARK_ADMIN_TOKEN";
    auto text = in_.string(v, p, expected);
    if (text && !is_environment_variable_name(*text)) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  std::optional<std::string> header_name(const node& v, const path_t& p) {
    constexpr std::string_view expected = "expected a header name, like X-Request-Id";
    auto text = in_.string(v, p, expected);
    if (text && !is_token(*text)) {
      in_.fail(p, std::string(expected));
      return std::nullopt;
    }
    return text;
  }

  void read_methods(const node& v, const path_t& p, std::vector<std::string>& methods) {
    in_.read_list(v, p, [&](const node& item, const path_t& ip) {
      constexpr std::string_view expected =
          "expected an HTTP method in upper case, like GET or POST";
      auto method = in_.string(item, ip, expected);
      if (!method) return;
      if (!is_token(*method) ||
          method->find_first_of("abcdefghijklmnopqrstuvwxyz") != std::string::npos) {
        in_.fail(ip, std::string(expected));
        return;
      }
      methods.push_back(*method);
    });
  }

  void read_headers(const node& v, const path_t& p, std::vector<header_match>& headers) {
    auto read_one = [&](const std::string& header, const node& value_node, const path_t& hp) {
      if (!is_token(header)) {
        in_.fail(hp, "expected a header name: letters, digits and !#$%&'*+-.^_`|~", header);
        return;
      }
      auto value = in_.string(value_node, hp, "expected the header's exact value as a string");
      if (value && value->find_first_of("\r\n") != std::string::npos) {
        in_.fail(hp, "a header value cannot contain a line break", "");
        return;
      }
      if (value) headers.push_back(header_match{header, *value});
    };
    in_.read_entries(v, p, "expected a map of header name to value", read_one);
  }

  yaml_reader& in_;
};

std::string read_whole_file(std::ifstream& file) {
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

// YAML documents of the text, or the syntax error as the only error.
std::optional<std::vector<YAML::Node>> parse_yaml(std::string_view text,
                                                  const std::string& file_name,
                                                  std::vector<error>& errors) {
  try {
    return YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    errors.push_back(error{file_name, std::max(e.mark.line, 0) + 1, std::max(e.mark.column, 0) + 1,
                           "", "invalid YAML: " + e.msg, ""});
    return std::nullopt;
  }
}

}  // namespace

std::string error::to_string() const {
  std::string text = file;
  if (line > 0) text += concat({":", std::to_string(line), ":", std::to_string(column)});
  text += ": ";
  if (!path.empty()) text += concat({path, ": "});
  text += message;
  if (!value.empty()) text += concat({" (got ", value, ")"});
  return text;
}

load_result load_string(std::string_view yaml, const std::string& file_name) {
  load_result result;
  auto documents = parse_yaml(yaml, file_name, result.errors);
  if (!documents) return result;

  yaml_reader in(file_name, not_supported_yet);
  const YAML::Node root = documents->empty() ? YAML::Node() : documents->front();
  in.start(root);
  if (documents->size() > 1) {
    in.fail_at((*documents)[1], "",
               "expected one YAML document; remove the `---` and what follows it");
  }
  auto config = std::make_shared<gateway_config>();
  config->source_file = file_name;
  if (root.IsMap()) {
    schema(in).read(root, *config);
    validate(*config, in);
  } else {
    in.fail("",
            concat({root.IsNull() ? "the file is empty; " : "",
                    "expected a map with listeners, upstreams and routes"}),
            describe(root));
  }
  result.errors = in.take_errors();
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

load_result load_file(const std::string& path) {
  std::error_code ec;
  const bool directory = std::filesystem::is_directory(path, ec);
  std::ifstream file(path, std::ios::binary);
  if (directory || !file) {
    load_result result;
    const std::string reason = directory ? "it is a directory" : std::strerror(errno);
    result.errors.push_back(error{path, 0, 0, "", "cannot read the file: " + reason, ""});
    return result;
  }
  return load_string(read_whole_file(file), path);
}

}  // namespace bulwark::config
