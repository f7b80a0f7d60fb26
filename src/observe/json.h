// Minimal JSON string escaping for log lines and problem+json bodies.
// Invalid UTF-8 and control characters are escaped so that every line we
// write parses as JSON, whatever bytes a client sent.
#pragma once

#include <string>
#include <string_view>

namespace bulwark::observe {

// Appends `text` to `out` as the contents of a JSON string (no quotes).
void append_json_escaped(std::string& out, std::string_view text);

// `text` as a quoted JSON string.
std::string json_quote(std::string_view text);

}  // namespace bulwark::observe
