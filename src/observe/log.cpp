#include "observe/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "observe/json.h"

namespace bulwark::observe {
namespace {

std::string_view level_name(log_level level) {
  switch (level) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

}  // namespace

std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  char out[40];
  std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), text,
                static_cast<int>(millis % 1000));
  return out;
}

std::string format_log_line(log_level level, std::string_view message,
                            std::initializer_list<log_field> fields) {
  std::string line = "{\"ts\":\"" + rfc3339_now() + "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":";
  line += json_quote(message);
  for (const auto& field : fields) {
    line += ',';
    line += json_quote(field.key);
    line += ':';
    line += field.quoted ? json_quote(field.value) : field.value;
  }
  line += "}\n";
  return line;
}

void log(log_level level, std::string_view message, std::initializer_list<log_field> fields) {
  const std::string line = format_log_line(level, message, fields);
  // One write(2) per line: atomic with respect to other writers of stderr
  // for lines under PIPE_BUF, and never interleaved mid-line in practice.
  std::size_t written = 0;
  while (written < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + written, line.size() - written);
    if (n <= 0) return;
    written += static_cast<std::size_t>(n);
  }
}

}  // namespace bulwark::observe
