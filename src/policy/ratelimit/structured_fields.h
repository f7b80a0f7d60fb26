// A serializer for the small part of RFC 9651 (Structured Field Values for
// HTTP) that the RateLimit fields use: a List whose members are String items
// with Integer parameters, e.g. `"per-ip";q=5;w=60, "per-key";q=100;w=1`.
//
// Serialization follows RFC 9651 §4.1 to the letter, including its failure
// cases: a string with a byte outside %x20-7E, a key outside
// `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`, or an integer
// beyond ±999,999,999,999,999 makes the member fail, and nothing of it is
// written (the caller decides what to do; the rate-limit phase checks policy
// names when it is built, so on the request path nothing fails).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

namespace bulwark::policy::ratelimit::sf {

inline constexpr std::int64_t max_integer = 999'999'999'999'999;

bool is_valid_string(std::string_view value);
bool is_valid_key(std::string_view key);

// `"` + value with `"` and `\` escaped + `"`. False (nothing appended) when
// the value holds a byte an sf-string cannot carry.
bool append_string(std::string& out, std::string_view value);
// Decimal, `-` for negatives. False (nothing appended) beyond ±max_integer.
bool append_integer(std::string& out, std::int64_t value);

struct integer_parameter {
  std::string_view key;
  std::int64_t value;
};

// Builds a List of String items with Integer parameters.
class list_writer {
 public:
  // Appends one member; false, and the list unchanged, when any part of it
  // cannot be serialized.
  bool add(std::string_view item, std::initializer_list<integer_parameter> parameters);

  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace bulwark::policy::ratelimit::sf
