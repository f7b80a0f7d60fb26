// The gateway's own diagnostics (start, stop, errors): one JSON object per
// line on stderr, e.g.
//   {"ts":"2026-11-21T22:42:45.123Z","level":"info","msg":"listening","listener":"public","address":"127.0.0.1:8080"}
// Lines are written with a single write(2), so lines from several threads never
// interleave. This is not the access log: it is rare and may block briefly.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace bulwark::observe {

enum class log_level { debug, info, warn, error };

// A field value is either a JSON string (quoted on output) or raw JSON
// (a number, true/false/null) when built with log_field::raw().
struct log_field {
  std::string_view key;
  std::string value;
  bool quoted = true;

  log_field(std::string_view k, std::string_view v) : key(k), value(v) {}
  log_field(std::string_view k, const char* v) : key(k), value(v) {}
  log_field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <class Number>
    requires std::is_arithmetic_v<Number>
  log_field(std::string_view k, Number n) : key(k), value(std::to_string(n)), quoted(false) {}
};

void log(log_level level, std::string_view message, std::initializer_list<log_field> fields = {});

// Formats the line without writing it (tests, and log() itself).
std::string format_log_line(log_level level, std::string_view message,
                            std::initializer_list<log_field> fields);

// RFC 3339 UTC timestamp with milliseconds of the current wall time.
std::string rfc3339_now();

}  // namespace bulwark::observe
