// Strict checks of a request's header section, before and after Beast parses
// it. Beast is lenient where a proxy must not be: a proxy that reads framing
// differently from the server behind it is open to request smuggling, so we
// refuse every ambiguous form (RFC 9112 §2.2, §5, §6.1, §6.3; the vectors of
// PortSwigger's "HTTP request smuggling" research) with 400 and close.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace bulwark::proxy {

// Finds the end of a header section while it arrives, refusing a bare LF as
// soon as it is seen (so a client that terminates lines with LF alone gets a
// 400 at once instead of waiting for a timeout).
class header_section_scanner {
 public:
  enum class state { incomplete, complete, invalid };

  // `data` is everything received so far (it only grows between calls).
  state scan(std::string_view data);
  // Length of the header section including the final CRLF CRLF (when complete).
  std::size_t length() const { return length_; }

 private:
  std::size_t scanned_ = 0;
  std::size_t length_ = 0;
};

// Leading empty lines before a request line (RFC 9112 §2.2 lets a server skip
// them; clients send one after a body now and then). Returns how many bytes to drop.
std::size_t leading_empty_lines(std::string_view data);

// Checks a complete header section (request line + fields + CRLF CRLF): no
// bare CR, no obs-fold, no whitespace or empty name before a colon, no control
// characters in values. Returns an empty string, or what is wrong.
std::string_view check_header_section(std::string_view section);

// Checks message framing after parsing. `content_lengths` and
// `transfer_encodings` are the values of every such field line, in order.
// Refuses: both fields; more than one Content-Length (even equal ones) or a
// list; a Transfer-Encoding other than exactly chunked (a final coding that
// is not chunked, chunked twice, or any other coding, which the gateway could
// not pass on intact); Transfer-Encoding in an HTTP/1.0 request.
std::string_view check_request_framing(const std::vector<std::string_view>& content_lengths,
                                       const std::vector<std::string_view>& transfer_encodings,
                                       unsigned http_version);

}  // namespace bulwark::proxy
