#include "proxy/message_checks.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "http/strings.h"

namespace bulwark::proxy {
namespace {

// Character classes of the header section (RFC 9110 §5.1, §5.5): a table
// lookup per byte, since every request's header section goes through here.
enum char_class : unsigned char { token_char = 1, forbidden_in_value = 2 };

constexpr std::array<unsigned char, 256> char_classes = [] {
  std::array<unsigned char, 256> classes{};
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos) {
      classes[c] |= token_char;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7F) classes[c] |= forbidden_in_value;
  }
  return classes;
}();

bool is(char c, char_class cls) { return (char_classes[static_cast<unsigned char>(c)] & cls) != 0; }

// Whether any of the 8 bytes at `p` is below 0x20 or is 0x7F (a tab counts
// too; the caller looks at such a word byte by byte). Exact as a yes/no:
// bytes of 0x80 and above (obs-text) never match.
bool may_hold_control(const char* p) {
  constexpr std::uint64_t ones = 0x0101010101010101, highs = 0x8080808080808080;
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  const std::uint64_t below_space = (word - 0x20 * ones) & ~word & highs;
  const std::uint64_t del = word ^ (0x7F * ones);
  return (below_space | ((del - ones) & ~del & highs)) != 0;
}

// What is wrong with a field name that stopped at `stop` (not a colon),
// in a section that ends at `end`.
std::string_view bad_field_name(const char* stop, const char* end) {
  const auto* line_end =
      static_cast<const char*>(std::memchr(stop, '\r', static_cast<std::size_t>(end - stop)));
  if (std::memchr(stop, ':', static_cast<std::size_t>(line_end - stop)) == nullptr) {
    return "header field without a colon";
  }
  if (*stop == ' ' || *stop == '\t') return "whitespace before the colon of a header field";
  return "invalid character in a header field name";
}

}  // namespace

header_section_scanner::state header_section_scanner::scan(std::string_view data) {
  const char* const begin = data.data();
  const char* const end = begin + data.size();
  // p < end first: memchr must not see a null pointer, even for 0 bytes (an
  // empty buffer's data() is null).
  for (const char* p = begin + scanned_;
       p < end &&
       (p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p))));
       ++p) {
    const std::size_t i = static_cast<std::size_t>(p - begin);
    if (i == 0 || p[-1] != '\r') {
      scanned_ = i;
      return state::invalid;
    }
    if (i >= 3 && p[-2] == '\n' && p[-3] == '\r') {
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

// One pass over the fields, line by line. The scanner guarantees that every
// LF follows a CR and that the section ends with CRLF CRLF; the first loop
// adds that every CR is followed by LF, so each line ends at its CR.
std::string_view check_header_section(std::string_view section) {
  const char* const end = section.data() + section.size();
  for (const char* cr = section.data();
       (cr = static_cast<const char*>(std::memchr(cr, '\r', static_cast<std::size_t>(end - cr))));
       ++cr) {
    if (cr + 1 == end || cr[1] != '\n') return "bare CR in the header section";
  }
  const char* p = static_cast<const char*>(std::memchr(section.data(), '\n', section.size())) + 1;
  while (*p != '\r') {  // past the request line, up to the empty line
    if (*p == ' ' || *p == '\t') return "obsolete line folding";
    const char* const name = p;
    while (is(*p, token_char)) ++p;
    if (*p != ':') return bad_field_name(p, end);
    if (p == name) return "empty header field name";
    // Values are most of a section: 8 bytes at a time while no control
    // character is in sight (the line's CR always is, so `p` stops there).
    for (++p; end - p >= 8 && !may_hold_control(p); p += 8) {
    }
    for (; !is(*p, forbidden_in_value); ++p) {
    }
    if (*p != '\r') return "control character in a header field value";
    p += 2;
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
    for (const auto coding : http::split_list(value)) codings.push_back(coding);
  }
  if (codings.empty() || !http::iequals(codings.back(), "chunked")) {
    return "Transfer-Encoding whose final coding is not chunked";
  }
  for (std::size_t i = 0; i + 1 < codings.size(); ++i) {
    if (http::iequals(codings[i], "chunked")) return "chunked applied more than once";
  }
  // The gateway decodes chunked only and re-frames the body; forwarding, say,
  // gzip-coded bytes without their coding would corrupt them, so any other
  // coding is refused (nginx and Envoy refuse them too).
  if (codings.size() > 1) return "transfer coding other than chunked";
  return {};
}

}  // namespace bulwark::proxy
