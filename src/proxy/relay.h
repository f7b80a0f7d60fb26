// Streams one HTTP message from one stream to another without buffering its
// body. Beast parses what comes in, leaving each piece of body in the input
// buffer (message_head.h); what goes out is framed here: the header section the
// caller wrote (headers.h) as one contiguous block, then the body as it
// arrives, in chunks when it goes out chunked. Beast's serializer would write
// every header token as its own iovec (dozens per message), which costs more
// in the kernel and in user space than the copy into one buffer. Used in both
// directions.
#pragma once

#include <algorithm>
#include <array>
#include <span>
#include <string>

#include "proxy/deadline_stream.h"
#include "proxy/stream_io.h"
#include "proxy/vocabulary.h"

namespace bulwark::proxy {

inline std::chrono::steady_clock::time_point to_asio(core::time_point t) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch()));
}

// Each read (write) must make progress within read_idle (write_idle), and all
// of it must end by `overall`.
// Each read and write must finish within its side's idle time and before
// `overall`; an idle time of no_idle_limit leaves only `overall`.
struct relay_deadlines {
  core::duration read_idle;
  core::duration write_idle;
  core::time_point overall;
};
inline constexpr core::duration no_idle_limit = core::duration::max();

struct relay_result {
  error_code read_error;   // the side the body came from
  error_code write_error;  // the side it went to
  uint64_t body_bytes = 0;
  bool ok() const { return !read_error && !write_error; }
};

// The framing around one piece of body: a chunk header and trailing CRLF
// when chunked, the last-chunk marker once the body ends.
class body_framer {
 public:
  explicit body_framer(bool chunked) : chunked_(chunked) {}

  // Buffers for `head` (may be empty) followed by `data`; `last` ends the body.
  std::span<const net::const_buffer> frame(std::string_view head, std::string_view data, bool last);

 private:
  bool chunked_;
  char size_line_[20];
  std::array<net::const_buffer, 5> buffers_;
};

// What goes out: the header section, and whether the body is chunked.
struct relay_output {
  tcp_stream& stream;
  std::string_view head;
  bool chunked;
};

// Reads of a body go into at least this much room: 32 KiB holds a 16 KiB
// response with its header in one read. Without room, a large body would
// move 512 bytes per system call. Only connections that carry a body grow
// their buffer; idle ones keep small buffers.
inline constexpr std::size_t relay_read_size = 32 * 1024;

template <bool isRequest>
awaitable<relay_result> relay_message(tcp_stream& in, beast::flat_buffer& in_buffer,
                                      head_parser<isRequest>& parser,
                                      relay_output out, relay_deadlines deadlines) {
  const auto expiry = [&](core::duration idle) {
    const auto now = steady_now();
    return to_asio(idle < deadlines.overall - now ? now + idle : deadlines.overall);
  };
  relay_result result;
  if (!parser.is_done()) in_buffer.reserve(relay_read_size);
  body_framer framer(out.chunked);
  for (bool header_sent = false;;) {
    parser.clear_piece();
    if (!parser.is_done()) {
      auto ec = parse_buffered(in_buffer, parser);
      if (ec == http::error::need_more) {
        in.expires_at(expiry(deadlines.read_idle));
        ec = co_await read_some(in, in_buffer, parser);
      }
      if (ec) {
        result.read_error = ec;
        co_return result;
      }
      result.body_bytes += parser.piece().size();
    }
    const bool last = parser.is_done();
    const auto piece = parser.piece();
    if (!piece.empty() || last || !header_sent) {
      const auto buffers =
          framer.frame(header_sent ? std::string_view{} : out.head, piece, last);
      std::size_t written = 0;
      auto ec = write_now(out.stream, buffers, written);
      if (ec == net::error::would_block) {
        out.stream.expires_at(expiry(deadlines.write_idle));
        ec = co_await write_rest(out.stream, buffers, written);
      }
      if (ec) {
        result.write_error = ec;
        co_return result;
      }
      header_sent = true;
    }
    if (last) co_return result;
  }
}

}  // namespace bulwark::proxy
