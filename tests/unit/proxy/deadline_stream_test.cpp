// deadline_stream over a connected pair of loopback sockets: operations that
// end in time succeed, a read past its deadline fails with
// beast::error::timeout and closes the socket, an earlier deadline than the
// one the watchdog waits for is honoured at once, and a deadline moved later
// is not cut short by the watchdog armed for the earlier one. Real sockets
// need real time: deadlines are tens of milliseconds, and every test runs its
// io_context for a bounded time, so a hang fails instead of blocking.
#include "proxy/deadline_stream.h"

#include <gtest/gtest.h>

#include <boost/asio/write.hpp>

#include "unit/http/loopback.h"

namespace bulwark::proxy {
namespace {

using namespace std::chrono_literals;

// A connected pair: `stream` under test, `peer` a plain socket.
struct connected_pair {
  net::io_context context{1};
  std::optional<deadline_stream> stream;
  std::optional<tcp_socket> peer;

  connected_pair() {
    auto [connecting, accepted] = http::test::loopback_pair(context);
    peer.emplace(std::move(connecting));
    stream.emplace(std::move(accepted));
  }

  void run(awaitable<void> body) { http::test::run_bounded(context, std::move(body)); }

  // Writes `text` to the stream's side after `delay`.
  void send_after(std::chrono::milliseconds delay, std::string text) {
    auto timer = std::make_shared<steady_timer>(context, delay);
    auto data = std::make_shared<std::string>(std::move(text));
    timer->async_wait([this, timer, data](const error_code&) {
      error_code ignored;
      net::write(*peer, net::buffer(*data), ignored);
    });
  }
};

TEST(DeadlineStream, ReadWithinTheDeadlineSucceeds) {
  connected_pair pair;
  pair.send_after(10ms, "ping");
  error_code result;
  std::size_t got = 0;
  pair.run([&]() -> awaitable<void> {
    std::array<char, 16> buffer;
    pair.stream->expires_after(2s);
    auto [ec, n] = co_await pair.stream->async_read_some(net::buffer(buffer), use_nothrow);
    result = ec;
    got = n;
  }());
  EXPECT_FALSE(result) << result.message();
  EXPECT_EQ(got, 4u);
}

TEST(DeadlineStream, ReadPastTheDeadlineTimesOutAndClosesTheSocket) {
  connected_pair pair;
  error_code result;
  core::duration waited{};
  pair.run([&]() -> awaitable<void> {
    std::array<char, 16> buffer;
    const auto start = steady_now();
    pair.stream->expires_after(30ms);
    auto [ec, n] = co_await pair.stream->async_read_some(net::buffer(buffer), use_nothrow);
    waited = steady_now() - start;
    result = ec;
  }());
  EXPECT_EQ(result, beast::error::timeout) << result.message();
  EXPECT_GE(waited, 30ms);
  EXPECT_FALSE(pair.stream->socket().is_open());
}

TEST(DeadlineStream, NoDeadlineMeansNoTimeout) {
  connected_pair pair;
  pair.send_after(60ms, "late");
  error_code result;
  pair.run([&]() -> awaitable<void> {
    std::array<char, 16> buffer;
    pair.stream->expires_after(20ms);
    pair.stream->expires_never();
    auto [ec, n] = co_await pair.stream->async_read_some(net::buffer(buffer), use_nothrow);
    result = ec;
  }());
  EXPECT_FALSE(result) << result.message();
}

// The watchdog waits for a long first deadline; a second operation with a
// much shorter one must time out on time, not when the first would have.
TEST(DeadlineStream, AnEarlierDeadlineIsHonouredAtOnce) {
  connected_pair pair;
  pair.send_after(10ms, "first");
  error_code second;
  core::duration waited{};
  pair.run([&]() -> awaitable<void> {
    std::array<char, 16> buffer;
    pair.stream->expires_after(60s);
    auto [ec1, n1] = co_await pair.stream->async_read_some(net::buffer(buffer), use_nothrow);
    EXPECT_FALSE(ec1) << ec1.message();
    const auto start = steady_now();
    pair.stream->expires_after(30ms);
    auto [ec2, n2] = co_await pair.stream->async_read_some(net::buffer(buffer), use_nothrow);
    waited = steady_now() - start;
    second = ec2;
  }());
  EXPECT_EQ(second, beast::error::timeout) << second.message();
  EXPECT_LT(waited, 2s);
}

// The watchdog is armed for the first operation's short deadline; when it
// fires, the second operation's later deadline has not passed, so it waits on.
TEST(DeadlineStream, ALaterDeadlineOutlivesTheWatchdogArmedBeforeIt) {
  connected_pair pair;
  pair.send_after(5ms, "first");
  pair.send_after(120ms, "second");
  error_code second;
  std::size_t got = 0;
  pair.run([&]() -> awaitable<void> {
    std::array<char, 16> buffer;
    pair.stream->expires_after(40ms);
    auto [ec1, n1] = co_await pair.stream->async_read_some(net::buffer(buffer), use_nothrow);
    EXPECT_FALSE(ec1) << ec1.message();
    pair.stream->expires_after(2s);
    auto [ec2, n2] = co_await pair.stream->async_read_some(net::buffer(buffer), use_nothrow);
    second = ec2;
    got = n2;
  }());
  EXPECT_FALSE(second) << second.message();
  EXPECT_EQ(got, 6u);
}

TEST(DeadlineStream, ConnectsWithinTheDeadline) {
  net::io_context context{1};
  tcp_acceptor acceptor(context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  deadline_stream stream(context.get_executor());
  std::optional<error_code> result;
  http::test::run_bounded(context, [&]() -> awaitable<void> {
    stream.expires_after(2s);
    auto [ec] = co_await stream.async_connect(acceptor.local_endpoint(), use_nothrow);
    result = ec;
  }());
  ASSERT_TRUE(result.has_value());
  EXPECT_FALSE(*result) << result->message();
  EXPECT_TRUE(stream.socket().is_open());
}

}  // namespace
}  // namespace bulwark::proxy
