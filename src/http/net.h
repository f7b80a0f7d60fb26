// The Asio/Beast vocabulary of the data path (src/proxy) and of the phases
// that wait (src/phase, src/policy). Only declarations: the definitions
// are compiled once in asio/asio_impl.cpp (separate compilation).
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <string>

#include "core/clock.h"
#include "http/message_head.h"

namespace bulwark::http {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using boost::system::error_code;

// Every coroutine, socket and timer of a worker runs on its own io_context,
// so they all name its executor type instead of the polymorphic
// any_io_executor (Asio's default): no type-erased executor copy and call on
// every asynchronous operation, which measurably costs per request.
using executor = net::io_context::executor_type;
using tcp_socket = net::basic_stream_socket<tcp, executor>;
using tcp_acceptor = net::basic_socket_acceptor<tcp, executor>;
using steady_timer =
    net::basic_waitable_timer<std::chrono::steady_clock,
                              net::wait_traits<std::chrono::steady_clock>, executor>;
// The stream of every connection, tcp_stream, is in deadline_stream.h.

template <class T = void>
using awaitable = net::awaitable<T, executor>;

// Completion token for `auto [ec, n] = co_await op(..., use_nothrow);`: no
// exceptions on the request path (STYLE.md "Errors and limits"). Deferred,
// not use_awaitable: the awaiting coroutine starts a deferred operation
// itself (Asio's awaitable_async_op), where use_awaitable runs each one in a
// coroutine frame of its own (async_result<use_awaitable_t>::initiate), an
// allocation and a resumption more per operation that waits: 0.4k
// instructions per proxied request.
inline constexpr auto use_nothrow = net::as_tuple(net::deferred);

// `host:port` of an endpoint, an IPv6 host in brackets (as in URLs and logs).
// Built by appending: GCC 12 misreports `"[" + s + "]"` chains (-Wrestrict).
inline std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  std::string text;
  if (address.is_v6()) text += '[';
  text += address.to_string();
  if (address.is_v6()) text += ']';
  text += ':';
  text += std::to_string(endpoint.port());
  return text;
}

// Asio's timers run on std::chrono::steady_clock; core::time_point is the same
// clock, so a deadline converts without loss.
inline core::time_point steady_now() {
  return std::chrono::time_point_cast<core::duration>(std::chrono::steady_clock::now());
}

// The production clock for core components that take a core::clock.
class steady_clock_source final : public core::clock {
 public:
  core::time_point now() const override { return steady_now(); }
};

}  // namespace bulwark::http
