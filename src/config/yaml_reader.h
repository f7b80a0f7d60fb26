// Reading a YAML tree into typed values while collecting every error.
//
// The loader describes each YAML map by a table of fields; `read_fields()`
// dispatches each key to its reader and turns everything else into an error:
// a duplicate key, an unknown field (with a "did you mean" hint), a missing
// required field, or a field that DESIGN.md describes but this version has not
// built ("not supported yet"). That last list is given once, to the
// constructor, so a later feature is switched on by moving its field from the
// list into a field table, never by a special case.
//
// Every value visited has its position and text recorded under its field path
// (`routes[2].match.path`), so that cross-field checks made after parsing can
// report the position and the value as written, like the checks made while
// reading. A path that failed once is marked, so later checks skip it rather
// than report a second, derived error about the same value.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/loader.h"

namespace bulwark::config {

// A field that DESIGN.md §4 describes but this version refuses. `map` is the
// path of the map that holds it with list indices left out: "routes[].retry".
struct designed_field {
  std::string_view map;
  std::string_view name;
};

class yaml_reader {
 public:
  using read_function = std::function<void(const YAML::Node& value, const std::string& path)>;

  struct field {
    std::string_view name;
    read_function read;
    bool required = false;
  };

  yaml_reader(std::string file, std::vector<designed_field> not_supported_yet);

  // Records the position of the whole document, which errors fall back on.
  void start(const YAML::Node& root);

  // --- structure ---------------------------------------------------------------
  void read_fields(const YAML::Node& map, const std::string& path,
                   const std::vector<field>& fields);
  // `read_item` is called with each element and its path `path[i]`.
  void read_list(const YAML::Node& list, const std::string& path, const read_function& read_item);
  // Maps whose keys are data (header names), not field names.
  void read_entries(const YAML::Node& map, const std::string& path, std::string_view expected,
                    const std::function<void(const std::string& key, const YAML::Node& value,
                                             const std::string& path)>& read_entry);

  // --- scalars: nullopt after reporting the error --------------------------------
  std::optional<std::string> string(const YAML::Node& node, const std::string& path,
                                    std::string_view expected = "expected a string");
  std::optional<std::string> non_empty_string(const YAML::Node& node, const std::string& path);
  std::optional<uint64_t> integer(const YAML::Node& node, const std::string& path, uint64_t min,
                                  uint64_t max);
  // A share in (0, 1], like `shed_at: 0.85`.
  std::optional<double> ratio(const YAML::Node& node, const std::string& path);
  // A number from `min` to `max`, both included (`10`, `0.5`, `"2.5"`).
  std::optional<double> number(const YAML::Node& node, const std::string& path, double min,
                               double max);
  // `true` or `false` (YAML 1.2's spelling; `yes`, `on`... are refused as ambiguous).
  std::optional<bool> boolean(const YAML::Node& node, const std::string& path);
  // Most durations are lengths of time that must pass, so zero is refused...
  std::optional<duration> positive_duration(const YAML::Node& node, const std::string& path);
  // ...and a few are allowances, where zero means none (a JWT's leeway).
  std::optional<duration> non_negative_duration(const YAML::Node& node, const std::string& path);
  std::optional<uint64_t> size(const YAML::Node& node, const std::string& path);
  std::optional<address> host_port(const YAML::Node& node, const std::string& path,
                                   uint16_t min_port);

  template <class Enum>
  std::optional<Enum> choice(const YAML::Node& node, const std::string& path,
                             const std::vector<std::pair<std::string_view, Enum>>& options);

  // --- errors --------------------------------------------------------------------
  // Reports at the recorded position of `path` (or of its nearest recorded parent);
  // the value shown is `value`, or when nullopt the scalar recorded at `path`.
  void fail(const std::string& path, std::string message,
            std::optional<std::string> value = std::nullopt);
  // Reports at `node`'s own position, for errors about a whole document.
  void fail_at(const YAML::Node& node, const std::string& path, std::string message);
  bool failed(const std::string& path) const { return failed_.contains(path); }
  // The scalar recorded at `path` as written ("" when none).
  std::string written(const std::string& path) const;
  // Every error, in file order.
  std::vector<error> take_errors();

 private:
  struct position {
    int line = 0;
    int column = 0;
    std::string text;  // the scalar as written; empty for maps and lists
  };

  static position position_of(const YAML::Node& node, const YAML::Node& fallback);
  void record(const std::string& path, const YAML::Node& node, const YAML::Node& fallback);
  const position& locate(std::string path) const;
  void report(const position& at, const std::string& path, std::string message,
              std::string_view value);
  std::string unknown_field_message(const std::string& map_path, std::string_view name,
                                    const std::vector<field>& fields) const;
  std::string choice_error(std::string_view got, const std::vector<std::string_view>& names) const;

  std::string file_;
  std::vector<designed_field> not_supported_yet_;
  std::map<std::string, position> positions_;
  std::set<std::string> failed_;
  std::vector<error> errors_;
};

// How a value that is not a scalar is named in an error: "a list", "a map".
std::string describe(const YAML::Node& node);

// A number as errors show it: `100`, `0.5`, `4.29497e+09`.
std::string format_number(double value);

template <class Enum>
std::optional<Enum> yaml_reader::choice(
    const YAML::Node& node, const std::string& path,
    const std::vector<std::pair<std::string_view, Enum>>& options) {
  std::vector<std::string_view> names;
  for (const auto& [name, value] : options) names.push_back(name);
  auto text = string(node, path, choice_error("", names));
  if (!text) return std::nullopt;
  for (const auto& [name, value] : options) {
    if (name == *text) return value;
  }
  fail(path, choice_error(*text, names));
  return std::nullopt;
}

}  // namespace bulwark::config
