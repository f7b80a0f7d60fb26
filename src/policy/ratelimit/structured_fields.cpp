#include "policy/ratelimit/structured_fields.h"

#include <algorithm>
#include <charconv>
#include <iterator>

namespace bulwark::policy::ratelimit::sf {
namespace {

bool is_lcalpha(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool is_valid_string(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte >= 0x20 && byte <= 0x7e;
  });
}

bool is_valid_key(std::string_view key) {
  if (key.empty() || !(is_lcalpha(key.front()) || key.front() == '*')) return false;
  return std::all_of(key.begin() + 1, key.end(), [](char c) {
    return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*';
  });
}

bool append_string(std::string& out, std::string_view value) {
  if (!is_valid_string(value)) return false;
  out += '"';
  for (const char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return true;
}

bool append_integer(std::string& out, std::int64_t value) {
  if (value > max_integer || value < -max_integer) return false;
  char digits[24];  // 15 digits and a sign at most
  const auto end = std::to_chars(std::begin(digits), std::end(digits), value).ptr;
  out.append(digits, end);
  return true;
}

bool list_writer::add(std::string_view item, std::initializer_list<integer_parameter> parameters) {
  const std::size_t mark = text_.size();
  if (!text_.empty()) text_ += ", ";  // RFC 9651 §4.1.1: "," and one SP between members
  bool ok = append_string(text_, item);
  for (const auto& parameter : parameters) {
    if (!ok) break;
    ok = is_valid_key(parameter.key);
    if (ok) {
      text_ += ';';
      text_ += parameter.key;
      text_ += '=';
      ok = append_integer(text_, parameter.value);
    }
  }
  if (!ok) text_.resize(mark);
  return ok;
}

}  // namespace bulwark::policy::ratelimit::sf
