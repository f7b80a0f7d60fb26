// The generic half of the loader: structure, scalars, positions and errors.
// What the gateway's fields are lives in loader.cpp.
#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "config/concat.h"
#include "config/did_you_mean.h"
#include "config/syntax.h"
#include "core/units.h"

namespace bulwark::config {
namespace {

std::string join(const std::string& path, std::string_view name) {
  return path.empty() ? std::string(name) : concat({path, ".", name});
}

std::string indexed(const std::string& path, std::size_t index) {
  return concat({path, "[", std::to_string(index), "]"});
}

// "routes[2].retry" -> "routes[].retry", the key of the not-supported-yet list.
std::string without_indices(std::string_view path) {
  std::string shape;
  bool in_index = false;
  for (char c : path) {
    if (c == ']') in_index = false;
    if (!in_index) shape += c;
    if (c == '[') in_index = true;
  }
  return shape;
}

// "routes[2].match.path" -> "routes[2].match" -> "routes[2]" -> "routes" -> "".
std::string parent_of(const std::string& path) {
  const auto cut = path.find_last_of(".[");
  return cut == std::string::npos ? std::string() : path.substr(0, cut);
}

// Values are shown on one line and within reason, whatever the file holds.
std::string printable(std::string_view text) {
  constexpr std::size_t max_shown = 80;
  std::string shown;
  for (char c : text.substr(0, max_shown)) {
    if (c == '\n') {
      shown += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      shown += '?';
    } else {
      shown += c;
    }
  }
  if (text.size() > max_shown) shown += "...";
  return shown;
}

std::string list_of(const std::vector<std::string_view>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += i + 1 == names.size() ? " or " : ", ";
    text += names[i];
  }
  return text;
}

std::optional<std::string> hint_for(std::string_view word,
                                    const std::vector<std::string_view>& candidates) {
  auto match = closest_match(word, candidates);
  if (!match) return std::nullopt;
  return concat({"did you mean `", *match, "`?"});
}

}  // namespace

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

std::string describe(const YAML::Node& node) {
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  if (node.IsScalar()) return node.Scalar();
  return "";  // null: nothing was written
}

yaml_reader::yaml_reader(std::string file, std::vector<designed_field> not_supported_yet)
    : file_(std::move(file)), not_supported_yet_(std::move(not_supported_yet)) {}

void yaml_reader::start(const YAML::Node& root) {
  record("", root, root);
}

yaml_reader::position yaml_reader::position_of(const YAML::Node& node, const YAML::Node& fallback) {
  // yaml-cpp places an empty value (`key:`) on the next token, often the next
  // line; the key is where the user will look.
  const YAML::Mark mark = node.IsNull() || node.Mark().is_null() ? fallback.Mark() : node.Mark();
  return position{std::max(mark.line, 0) + 1, std::max(mark.column, 0) + 1,
                  node.IsScalar() ? node.Scalar() : std::string()};
}

void yaml_reader::record(const std::string& path, const YAML::Node& node,
                         const YAML::Node& fallback) {
  positions_[path] = position_of(node, fallback);
}

const yaml_reader::position& yaml_reader::locate(std::string path) const {
  static const position start_of_file{1, 1, {}};
  for (;;) {
    if (auto found = positions_.find(path); found != positions_.end()) return found->second;
    if (path.empty()) return start_of_file;
    path = parent_of(path);
  }
}

void yaml_reader::fail(const std::string& path, std::string message,
                       std::optional<std::string> value) {
  report(locate(path), path, std::move(message), value ? std::move(*value) : written(path));
}

void yaml_reader::fail_at(const YAML::Node& node, const std::string& path, std::string message) {
  report(position_of(node, node), path, std::move(message), "");
}

void yaml_reader::report(const position& at, const std::string& path, std::string message,
                         std::string_view value) {
  failed_.insert(path);
  errors_.push_back(error{file_, at.line, at.column, path, std::move(message), printable(value)});
}

std::string yaml_reader::written(const std::string& path) const {
  auto found = positions_.find(path);
  return found == positions_.end() ? std::string() : found->second.text;
}

std::vector<error> yaml_reader::take_errors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const error& a, const error& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  return std::move(errors_);
}

// --- structure ---------------------------------------------------------------------

void yaml_reader::read_fields(const YAML::Node& map, const std::string& path,
                              const std::vector<field>& fields) {
  if (!map.IsMap() && !map.IsNull()) {
    fail(path, "expected a map of fields", describe(map));
    return;
  }
  std::map<std::string, int, std::less<>> key_lines;  // field -> line of its first key
  // A null map (`retry:` with nothing under it) has no entries: every field keeps
  // its default. Entries are copied out of the iterator: yaml-cpp's iterator hands
  // out proxies that g++ 12 flags as dangling under -Werror.
  for (const auto& entry : map.IsMap() ? map : YAML::Node(YAML::NodeType::Map)) {
    const YAML::Node key = entry.first;
    const YAML::Node value = entry.second;
    if (!key.IsScalar()) {
      report(position_of(key, key), path, "expected a field name", describe(key));
      continue;
    }
    const std::string field_path = join(path, key.Scalar());
    const position at = position_of(key, key);
    if (auto first = key_lines.find(key.Scalar()); first != key_lines.end()) {
      const std::string first_line = std::to_string(first->second);
      report(at, field_path, concat({"duplicate field; it is already set on line ", first_line}),
             "");
      continue;
    }
    key_lines.emplace(key.Scalar(), at.line);
    auto known = std::find_if(fields.begin(), fields.end(),
                              [&](const field& f) { return f.name == key.Scalar(); });
    if (known == fields.end()) {
      record(field_path, key, key);
      fail(field_path, unknown_field_message(path, key.Scalar(), fields), "");
      continue;
    }
    record(field_path, value, key);
    known->read(value, field_path);
  }
  for (const field& f : fields) {
    if (f.required && !key_lines.contains(f.name))
      fail(join(path, f.name), "required field is missing", "");
  }
}

std::string yaml_reader::unknown_field_message(const std::string& map_path, std::string_view name,
                                               const std::vector<field>& fields) const {
  std::vector<std::string_view> supported;
  for (const field& f : fields) supported.push_back(f.name);
  std::vector<std::string_view> designed;
  for (const designed_field& d : not_supported_yet_) {
    if (d.map == without_indices(map_path)) designed.push_back(d.name);
  }
  if (std::find(designed.begin(), designed.end(), name) != designed.end())
    return "not supported yet";
  std::vector<std::string_view> candidates = supported;
  candidates.insert(candidates.end(), designed.begin(), designed.end());
  if (auto hint = hint_for(name, candidates)) return concat({"unknown field; ", *hint});
  return concat({"unknown field; expected ", list_of(supported)});
}

void yaml_reader::read_list(const YAML::Node& list, const std::string& path,
                            const read_function& read_item) {
  if (!list.IsSequence()) {
    fail(path, "expected a list", describe(list));
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string item_path = indexed(path, i);
    record(item_path, list[i], list);
    read_item(list[i], item_path);
  }
}

void yaml_reader::read_entries(const YAML::Node& map, const std::string& path,
                               std::string_view expected,
                               const std::function<void(const std::string&, const YAML::Node&,
                                                        const std::string&)>& read_entry) {
  if (!map.IsMap()) {
    fail(path, std::string(expected), describe(map));
    return;
  }
  for (const auto& entry : map) {
    const YAML::Node key_node = entry.first;
    const YAML::Node value = entry.second;
    const std::string key = key_node.IsScalar() ? key_node.Scalar() : describe(key_node);
    const std::string entry_path = join(path, key);
    record(entry_path, value, key_node);
    if (!key_node.IsScalar()) {
      fail(entry_path, std::string(expected), key);
      continue;
    }
    read_entry(key, value, entry_path);
  }
}

// --- scalars -----------------------------------------------------------------------

std::optional<std::string> yaml_reader::string(const YAML::Node& node, const std::string& path,
                                               std::string_view expected) {
  if (node.IsScalar()) return node.Scalar();
  fail(path, std::string(expected), describe(node));
  return std::nullopt;
}

std::optional<std::string> yaml_reader::non_empty_string(const YAML::Node& node,
                                                         const std::string& path) {
  auto text = string(node, path, "expected a non-empty string");
  if (text && text->empty()) {
    fail(path, "must not be empty");
    return std::nullopt;
  }
  return text;
}

std::optional<uint64_t> yaml_reader::integer(const YAML::Node& node, const std::string& path,
                                             uint64_t min, uint64_t max) {
  auto text = string(node, path, "expected a whole number");
  if (!text) return std::nullopt;
  const bool negative =
      !text->empty() && text->front() == '-' && text->size() > 1 &&
      std::all_of(text->begin() + 1, text->end(), [](char c) { return c >= '0' && c <= '9'; });
  const std::string range =
      concat({"must be from ", std::to_string(min), " to ", std::to_string(max)});
  uint64_t value = 0;
  const char* end = text->data() + text->size();
  auto [stop, ec] = std::from_chars(text->data(), end, value);
  if (negative || ec == std::errc::result_out_of_range) {
    fail(path, range);
    return std::nullopt;
  }
  if (ec != std::errc{} || stop != end) {
    fail(path, "expected a whole number");
    return std::nullopt;
  }
  if (value < min || value > max) {
    fail(path, range);
    return std::nullopt;
  }
  return value;
}

std::optional<double> yaml_reader::ratio(const YAML::Node& node, const std::string& path) {
  constexpr std::string_view expected = "expected a number greater than 0 and at most 1, like 0.85";
  auto text = string(node, path, expected);
  if (!text) return std::nullopt;
  double value = 0;
  const char* end = text->data() + text->size();
  auto [stop, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc{} || stop != end || !std::isfinite(value)) {
    fail(path, std::string(expected));
    return std::nullopt;
  }
  if (value <= 0 || value > 1) {
    fail(path, "must be greater than 0 and at most 1");
    return std::nullopt;
  }
  return value;
}

std::optional<double> yaml_reader::number(const YAML::Node& node, const std::string& path,
                                          double min, double max) {
  const std::string range = concat({"expected a number from ", format_number(min), " to ",
                                    format_number(max)});
  auto text = string(node, path, range);
  if (!text) return std::nullopt;
  double value = 0;
  const char* end = text->data() + text->size();
  auto [stop, ec] = std::from_chars(text->data(), end, value);
  if (ec != std::errc{} || stop != end || !std::isfinite(value)) {
    fail(path, range);
    return std::nullopt;
  }
  if (value < min || value > max) {
    fail(path, concat({"must be from ", format_number(min), " to ", format_number(max)}));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> yaml_reader::boolean(const YAML::Node& node, const std::string& path) {
  auto text = string(node, path, "expected true or false");
  if (!text) return std::nullopt;
  if (*text == "true") return true;
  if (*text == "false") return false;
  fail(path, "expected true or false");
  return std::nullopt;
}

std::optional<duration> yaml_reader::positive_duration(const YAML::Node& node,
                                                       const std::string& path) {
  auto value = non_negative_duration(node, path);
  if (value && *value == duration::zero()) {
    fail(path, "must be greater than 0");
    return std::nullopt;
  }
  return value;
}

std::optional<duration> yaml_reader::non_negative_duration(const YAML::Node& node,
                                                           const std::string& path) {
  auto text = string(node, path, "expected a duration like 250ms, 5s, 2m or 1h");
  if (!text) return std::nullopt;
  auto parsed = core::parse_duration(*text);
  if (!parsed.ok()) {
    fail(path, parsed.error);
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<uint64_t> yaml_reader::size(const YAML::Node& node, const std::string& path) {
  auto text = string(node, path, "expected a size like 512, 16KiB or 10MiB");
  if (!text) return std::nullopt;
  auto parsed = core::parse_size(*text);
  if (!parsed.ok()) fail(path, parsed.error);
  return parsed.value;
}

std::optional<address> yaml_reader::host_port(const YAML::Node& node, const std::string& path,
                                              uint16_t min_port) {
  auto text = string(node, path, "expected host:port, like 127.0.0.1:8080");
  if (!text) return std::nullopt;
  auto parsed = parse_address(*text, min_port);
  if (!parsed.ok()) {
    fail(path, parsed.error);
    return std::nullopt;
  }
  return parsed.value;
}

std::string yaml_reader::choice_error(std::string_view got,
                                      const std::vector<std::string_view>& names) const {
  std::string message = concat({"expected ", list_of(names)});
  if (!got.empty()) {
    if (auto hint = hint_for(got, names)) message += concat({"; ", *hint});
  }
  return message;
}

}  // namespace bulwark::config
