// The gateway's own diagnostics (start, stop, errors): one JSON object per
// line on stderr, e.g.
//   {"ts":"2026-11-21T22:42:45.123Z","level":"info","msg":"listening","listener":"public","address":"127.0.0.1:8080"}
// Lines are written with a single write(2), so lines from several threads never
// interleave. This is not the access log: it is rare and may block briefly.
#pragma once

#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace bulwark::observe {

enum class log_level { debug, info, warn, error };

// A field value: a string (quoted on output), a bool (true/false) or a
// number (written raw; NaN and infinities, which JSON lacks, become null).
struct log_field {
  std::string_view key;
  std::string value;
  bool quoted = true;

  log_field(std::string_view k, std::string_view v) : key(k), value(v) {}
  log_field(std::string_view k, const char* v) : key(k), value(v) {}
  log_field(std::string_view k, const std::string& v) : key(k), value(v) {}
  log_field(std::string_view k, bool b) : key(k), value(b ? "true" : "false"), quoted(false) {}
  template <class Number>
    requires(std::is_arithmetic_v<Number> && !std::is_same_v<Number, bool>)
  log_field(std::string_view k, Number n)
      : key(k), value(json_number(static_cast<double>(n), std::to_string(n))), quoted(false) {}

 private:
  static std::string json_number(double as_double, std::string text) {
    return std::isfinite(as_double) ? std::move(text) : std::string("null");
  }
};

void log(log_level level, std::string_view message, std::initializer_list<log_field> fields = {});

// Formats the line without writing it (tests, and log() itself).
std::string format_log_line(log_level level, std::string_view message,
                            std::initializer_list<log_field> fields);

}  // namespace bulwark::observe
