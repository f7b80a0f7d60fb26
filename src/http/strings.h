// Small string helpers for HTTP text (ASCII case-insensitivity, token lists).
#pragma once

#include <string_view>
#include <vector>

namespace bulwark::http {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn with each element of a comma-separated list (RFC 9110 §5.6.1),
// trimmed; empty elements are skipped, as the RFC requires of recipients.
template <class Fn>
constexpr void for_each_list_item(std::string_view value, Fn fn) {
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto item = trim_ows(value.substr(0, comma));
    if (!item.empty()) fn(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// The elements of a comma-separated list, as for_each_list_item sees them.
std::vector<std::string_view> split_list(std::string_view value);

}  // namespace bulwark::http
