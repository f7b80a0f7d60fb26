#include "observe/log.h"

#include <unistd.h>

#include <chrono>

#include "observe/access_log.h"
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

std::string format_log_line(log_level level, std::string_view message,
                            std::initializer_list<log_field> fields) {
  std::string line = "{\"ts\":\"";
  line += format_rfc3339_millis(std::chrono::system_clock::now());
  line += "\",\"level\":\"";
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
