// Reading and writing HTTP on a connection, with the semantics of Beast's
// http::async_read_some / async_read_header and Asio's async_write, minus
// the cost of a trip through the scheduler when none is needed:
//   - Reading: Beast's composed operation posts its completion through the
//     scheduler even when it only parsed bytes that were already buffered
//     (to bound recursion in callback code), and a small response's body
//     nearly always arrives with its header. Here what is buffered is parsed
//     in place, and the socket is read only when that does not move the
//     parser forward.
//   - Writing: a write first goes straight to the socket (non-blocking), as
//     nginx writes; only what the kernel does not take at once is left to an
//     asynchronous write. An asynchronous write that completes at once still
//     costs a reactor registration, a posted completion and a resumption.
// (Coroutines resume through Asio's pump, so completing without suspending
// does not grow the stack.)
#pragma once

#include <algorithm>

#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>

#include "proxy/deadline_stream.h"
#include "proxy/vocabulary.h"

namespace bulwark::proxy {

// What `buffer` holds, parsed: success when the parser moved forward (the
// header completed, a piece of body arrived (message_head.h), the message
// ended), need_more when the stream must be read first (read_some), or the
// parser's error. No coroutine: for the common case of a body that came
// with its header.
template <class Parser>
error_code parse_buffered(beast::flat_buffer& buffer, Parser& parser) {
  if (buffer.size() == 0) return http::error::need_more;
  error_code ec;
  buffer.consume(parser.put(buffer.data(), ec));
  return ec;
}

// How far read_until reads: until the parser moved forward at all, or until
// the header section is parsed.
enum class read_goal { progress, header };

// Parses what `buffer` holds, reading from `stream` as long as that is needed
// to reach `goal`. Returns success, or the error: end_of_stream when the
// stream ended before the message began, partial_message when it ended
// inside it, the parser's or the stream's. One coroutine for both goals, so
// reading a header costs one frame, not one per read.
template <class Parser>
awaitable<error_code> read_until(tcp_stream& stream, beast::flat_buffer& buffer, Parser& parser,
                                 read_goal goal) {
  for (;;) {
    if (goal == read_goal::header && parser.is_header_done()) co_return error_code{};
    if (const auto ec = parse_buffered(buffer, parser); ec != http::error::need_more) {
      if (ec || goal == read_goal::progress) co_return ec;
      continue;
    }
    // As Beast sizes its reads: the free capacity, at least 512 bytes, at
    // most 64 KiB.
    const std::size_t room = std::clamp<std::size_t>(buffer.capacity() - buffer.size(), 512, 65536);
    auto [ec, n] = co_await stream.async_read_some(buffer.prepare(room), use_nothrow);
    if (ec == net::error::eof) {
      if (!parser.got_some()) co_return http::error::end_of_stream;
      error_code end;
      parser.put_eof(end);  // a close-delimited body ends here; anything else is partial
      co_return end;
    }
    if (ec) co_return ec;
    buffer.commit(n);
  }
}

// Moves `parser` forward as parse_buffered does, reading as long as needed.
template <class Parser>
awaitable<error_code> read_some(tcp_stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  return read_until(stream, buffer, parser, read_goal::progress);
}

// Reads until the header section is parsed.
template <class Parser>
awaitable<error_code> read_header(tcp_stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  return read_until(stream, buffer, parser, read_goal::header);
}

// Writes what the socket takes now, without waiting; `written` says how
// much went out. Returns would_block when some is left for write_rest.
template <class ConstBuffers>
error_code write_now(tcp_stream& stream, const ConstBuffers& buffers, std::size_t& written) {
  auto& socket = stream.socket();
  error_code ec;
  written = 0;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  if (ec) return ec;
  written = socket.write_some(buffers, ec);
  if (ec == net::error::try_again) return net::error::would_block;
  if (!ec && written < net::buffer_size(buffers)) return net::error::would_block;
  return ec;
}

// Writes the rest of `buffers`, past the `written` bytes, within the
// stream's deadline.
template <class ConstBuffers>
awaitable<error_code> write_rest(tcp_stream& stream, const ConstBuffers& buffers,
                                 std::size_t written) {
  beast::buffers_suffix<ConstBuffers> rest(buffers);
  rest.consume(written);
  auto [ec, n] = co_await net::async_write(stream, rest, use_nothrow);
  co_return ec;
}

// write_now, then write_rest if needed: for writes off the hot path.
template <class ConstBuffers>
awaitable<error_code> write_all(tcp_stream& stream, const ConstBuffers& buffers) {
  std::size_t written = 0;
  const auto ec = write_now(stream, buffers, written);
  if (ec != net::error::would_block) co_return ec;
  const auto rest_ec = co_await write_rest(stream, buffers, written);
  co_return rest_ec;
}

}  // namespace bulwark::proxy
