// The patched Asio header (src/proxy/asio/README.md): after a short read, the
// next read waits for the next epoll edge instead of trying recv first. These
// tests check that no data is stranded by it, over a real loopback pair: bytes
// that arrive while the completed read's handler still runs, before the next
// read starts; bytes that arrive after it is queued; a read that fills its
// buffer exactly, which leaves the rest for an immediate read. A stranded byte
// shows up as a read that never completes, so every run is bounded in time.
#include <gtest/gtest.h>

#include <boost/asio/write.hpp>

#include <string>

#include "http/net.h"
#include "unit/http/loopback.h"

namespace bulwark::http {
namespace {

struct socket_pair {
  net::io_context context{1};
  std::pair<tcp_socket, tcp_socket> ends = test::loopback_pair(context);
  tcp_socket& writer = ends.first;
  tcp_socket& reader = ends.second;

  void put(std::string_view text) { net::write(writer, net::buffer(text.data(), text.size())); }
  void run(awaitable<void> body) { test::run_bounded(context, std::move(body)); }
};

awaitable<std::string> read_some(tcp_socket& socket, std::size_t capacity) {
  std::string buffer(capacity, '\0');
  auto [ec, n] = co_await socket.async_read_some(net::buffer(buffer), use_nothrow);
  EXPECT_FALSE(ec) << ec.message();
  buffer.resize(n);
  co_return buffer;
}

TEST(ShortRead, BytesThatArriveBeforeTheNextReadStartsAreRead) {
  socket_pair pair;
  pair.run([&]() -> awaitable<void> {
    pair.put("request 0");
    for (int i = 0; i < 1000; ++i) {
      auto got = co_await read_some(pair.reader, 4096);  // short: drains the queue
      EXPECT_EQ(got, "request " + std::to_string(i));
      // The next request lands now, while no read is queued on the socket.
      pair.put("request " + std::to_string(i + 1));
    }
  }());
}

TEST(ShortRead, BytesThatArriveAfterTheReadIsQueuedAreRead) {
  socket_pair pair;
  pair.run([&]() -> awaitable<void> {
    for (int i = 0; i < 200; ++i) {
      // The peer writes from the scheduler, after this read has been queued.
      net::post(pair.context, [&pair, i] { pair.put("reply " + std::to_string(i)); });
      auto got = co_await read_some(pair.reader, 4096);
      EXPECT_EQ(got, "reply " + std::to_string(i));
    }
  }());
}

TEST(ShortRead, AReadThatFillsItsBufferLeavesTheRestForTheNextRead) {
  socket_pair pair;
  pair.run([&]() -> awaitable<void> {
    pair.put("0123456789");
    auto first = co_await read_some(pair.reader, 4);  // full, not short
    auto second = co_await read_some(pair.reader, 4);
    auto third = co_await read_some(pair.reader, 64);  // short
    EXPECT_EQ(first + second + third, "0123456789");
    pair.put("more");
    auto fourth = co_await read_some(pair.reader, 64);
    EXPECT_EQ(fourth, "more");
  }());
}

}  // namespace
}  // namespace bulwark::http
