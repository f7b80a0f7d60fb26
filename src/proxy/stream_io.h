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
#include "proxy/net.h"

namespace bulwark::proxy {

// Moves `parser` forward: parses what `buffer` holds, reading from `stream`
// first when that is not enough. Returns once the parser made progress (the
// header completed, a piece of body arrived (view_body.h), the message
// ended), or with the error: end_of_stream when the stream ended before the
// message began, partial_message when it ended inside it, the parser's or
// the stream's.
template <class Parser>
awaitable<error_code> read_some(tcp_stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  for (;;) {
    if (buffer.size() > 0) {
      error_code ec;
      buffer.consume(parser.put(buffer.data(), ec));
      if (ec != http::error::need_more) co_return ec;
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

// Reads until the header section is parsed.
template <class Parser>
awaitable<error_code> read_header(tcp_stream& stream, beast::flat_buffer& buffer, Parser& parser) {
  while (!parser.is_header_done()) {
    const auto ec = co_await read_some(stream, buffer, parser);
    if (ec) co_return ec;
  }
  co_return error_code{};
}

// Writes all of `buffers`: what the socket takes at once, then the rest
// asynchronously, within the stream's deadline. Returns the write's error.
template <class ConstBuffers>
awaitable<error_code> write_all(tcp_stream& stream, const ConstBuffers& buffers) {
  auto& socket = stream.socket();
  error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  const std::size_t total = net::buffer_size(buffers);
  const std::size_t written = ec ? 0 : socket.write_some(buffers, ec);
  if (!ec && written == total) co_return error_code{};
  if (ec && ec != net::error::would_block && ec != net::error::try_again) co_return ec;
  beast::buffers_suffix<ConstBuffers> rest(buffers);
  rest.consume(written);
  auto [write_ec, n] = co_await net::async_write(stream, rest, use_nothrow);
  co_return write_ec;
}

}  // namespace bulwark::proxy
