// Streams one HTTP message from one stream to another without buffering its
// body: Beast's buffer_body relay (the http_relay example), made asynchronous
// and deadline-bound. Used in both directions, requests and responses alike.
#pragma once

#include <algorithm>
#include <span>

#include "proxy/net.h"

namespace bulwark::proxy {

inline std::chrono::steady_clock::time_point to_asio(core::time_point t) {
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(t.time_since_epoch()));
}

// Each read (write) must make progress within read_idle (write_idle), and all
// of it must end by `overall`.
struct relay_deadlines {
  core::duration read_idle;
  core::duration write_idle;
  core::time_point overall;
};

struct relay_result {
  error_code read_error;   // the side the body came from
  error_code write_error;  // the side it went to
  uint64_t body_bytes = 0;
  bool ok() const { return !read_error && !write_error; }
};

template <bool isRequest>
awaitable<relay_result> relay_message(beast::tcp_stream& in, beast::flat_buffer& in_buffer,
                                      http::parser<isRequest, http::buffer_body>& parser,
                                      beast::tcp_stream& out, std::span<char> scratch,
                                      relay_deadlines deadlines) {
  const auto expiry = [&](core::duration idle) {
    return to_asio(std::min(steady_now() + idle, deadlines.overall));
  };
  relay_result result;
  // Beast reads into the free capacity of the dynamic buffer (512 bytes at
  // least); without room, a large body would move 512 bytes per system call.
  in_buffer.reserve(scratch.size());
  http::serializer<isRequest, http::buffer_body> serializer{parser.get()};
  auto& body = parser.get().body();
  do {
    if (!parser.is_done()) {
      body.data = scratch.data();
      body.size = scratch.size();
      in.expires_at(expiry(deadlines.read_idle));
      auto [ec, n] = co_await http::async_read_some(in, in_buffer, parser, use_nothrow);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        result.read_error = ec;
        co_return result;
      }
      body.size = scratch.size() - body.size;
      // An empty buffer must be null: the chunked serializer would write an
      // empty buffer as a zero-size chunk, which ends the body early.
      body.data = body.size > 0 ? scratch.data() : nullptr;
      body.more = !parser.is_done();
      result.body_bytes += body.size;
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    out.expires_at(expiry(deadlines.write_idle));
    auto [ec, n] = co_await http::async_write(out, serializer, use_nothrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      result.write_error = ec;
      co_return result;
    }
  } while (!parser.is_done() || !serializer.is_done());
  co_return result;
}

}  // namespace bulwark::proxy
