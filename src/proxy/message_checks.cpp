#include "proxy/message_checks.h"

#include "proxy/strings.h"

namespace bulwark::proxy {
namespace {

constexpr bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}

std::string_view check_field_line(std::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return "header field without a colon";
  if (colon == 0) return "empty header field name";
  for (std::size_t i = 0; i < colon; ++i) {
    if (line[i] == ' ' || line[i] == '\t') return "whitespace before the colon of a header field";
    if (!is_tchar(line[i])) return "invalid character in a header field name";
  }
  for (const char c : line.substr(colon + 1)) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) return "control character in a header field value";
  }
  return {};
}

}  // namespace

header_section_scanner::state header_section_scanner::scan(std::string_view data) {
  for (std::size_t i = scanned_; i < data.size(); ++i) {
    if (data[i] != '\n') continue;
    if (i == 0 || data[i - 1] != '\r') {
      scanned_ = i;
      return state::invalid;
    }
    if (i >= 3 && data[i - 2] == '\n' && data[i - 3] == '\r') {
      length_ = i + 1;
      scanned_ = i + 1;
      return state::complete;
    }
  }
  scanned_ = data.size();
  return state::incomplete;
}

std::size_t leading_empty_lines(std::string_view data) {
  std::size_t skip = 0;
  while (data.substr(skip).starts_with("\r\n")) skip += 2;
  return skip;
}

std::string_view check_header_section(std::string_view section) {
  // Every LF is already known to follow a CR (header_section_scanner); a CR
  // must be followed by LF.
  for (std::size_t i = 0; i < section.size(); ++i) {
    if (section[i] == '\r' && (i + 1 == section.size() || section[i + 1] != '\n')) {
      return "bare CR in the header section";
    }
  }
  auto rest = section.substr(section.find("\r\n") + 2);  // past the request line
  while (!rest.starts_with("\r\n")) {
    const auto end = rest.find("\r\n");
    if (const auto problem = check_field_line(rest.substr(0, end)); !problem.empty()) {
      return problem;
    }
    rest.remove_prefix(end + 2);
  }
  return {};
}

std::string_view check_request_framing(const std::vector<std::string_view>& content_lengths,
                                       const std::vector<std::string_view>& transfer_encodings,
                                       unsigned http_version) {
  if (!content_lengths.empty() && !transfer_encodings.empty()) {
    return "both Content-Length and Transfer-Encoding";
  }
  if (content_lengths.size() > 1) return "more than one Content-Length";
  if (content_lengths.size() == 1) {
    const auto value = content_lengths.front();
    if (value.empty() || value.size() > 19) return "invalid Content-Length";
    for (const char c : value) {
      if (c < '0' || c > '9') return "invalid Content-Length";
    }
  }
  if (transfer_encodings.empty()) return {};
  if (http_version < 11) return "Transfer-Encoding in an HTTP/1.0 request";
  std::vector<std::string_view> codings;
  for (const auto value : transfer_encodings) {
    for (const auto coding : split_list(value)) codings.push_back(coding);
  }
  if (codings.empty() || !iequals(codings.back(), "chunked")) {
    return "Transfer-Encoding whose final coding is not chunked";
  }
  for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
    if (iequals(codings[i], "chunked")) return "chunked applied more than once";
  }
  // The gateway decodes chunked only and re-frames the body; forwarding, say,
  // gzip-coded bytes without their coding would corrupt them, so any other
  // coding is refused (nginx and Envoy refuse them too).
  if (codings.size() > 1) return "transfer coding other than chunked";
  return {};
}

}  // namespace bulwark::proxy
