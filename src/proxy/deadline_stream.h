// A TCP socket whose reads, writes and connects fail with beast::error::timeout
// once a deadline passes: what beast::basic_stream offers, at a lower cost.
//
// basic_stream starts a timer wait with every operation and cancels it when
// the operation completes: a timer-queue insertion, a removal and a cancelled
// wait handler run by the scheduler, for each of the four or five operations
// of a proxied request. Here one watchdog timer per connection is armed
// lazily: setting a later deadline only stores it, and when the timer fires
// before the current deadline it is simply armed again for the rest. Only a
// deadline earlier than the armed one re-arms the timer at once. As with
// basic_stream, a timeout closes the socket; operations started after it fail.
#pragma once

#include <boost/asio/associator.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/beast/core/error.hpp>

#include <chrono>
#include <memory>

#include "proxy/vocabulary.h"

namespace bulwark::proxy {

class deadline_stream {
  struct state;

 public:
  using executor_type = executor;
  using time_point = std::chrono::steady_clock::time_point;

  explicit deadline_stream(executor io_executor);
  explicit deadline_stream(tcp_socket socket);
  ~deadline_stream();
  deadline_stream(const deadline_stream&) = delete;
  deadline_stream& operator=(const deadline_stream&) = delete;

  executor_type get_executor() noexcept { return state_->socket.get_executor(); }
  tcp_socket& socket() { return state_->socket; }

  // Operations started from now on must complete by `deadline`.
  void expires_at(time_point deadline) { state_->deadline = deadline; }
  void expires_after(std::chrono::steady_clock::duration timeout) {
    expires_at(std::chrono::steady_clock::now() + timeout);
  }
  void expires_never() { state_->deadline = time_point::max(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return net::async_initiate<Token, void(error_code, std::size_t)>(
        [](auto handler, std::shared_ptr<state> s, const MutableBuffers& b) {
          s->start_operation(s);
          auto& socket = s->socket;
          socket.async_read_some(b, wrap(std::move(handler), std::move(s)));
        },
        token, state_, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return net::async_initiate<Token, void(error_code, std::size_t)>(
        [](auto handler, std::shared_ptr<state> s, const ConstBuffers& b) {
          s->start_operation(s);
          auto& socket = s->socket;
          socket.async_write_some(b, wrap(std::move(handler), std::move(s)));
        },
        token, state_, buffers);
  }

  template <class Token>
  auto async_connect(const tcp::endpoint& endpoint, Token&& token) {
    return net::async_initiate<Token, void(error_code)>(
        [](auto handler, std::shared_ptr<state> s, const tcp::endpoint& to) {
          s->start_operation(s);
          auto& socket = s->socket;
          socket.async_connect(to, wrap(std::move(handler), std::move(s)));
        },
        token, state_, endpoint);
  }

 private:
  // Shared with the watchdog's pending wait, which may outlive the stream.
  struct state {
    explicit state(tcp_socket s) : socket(std::move(s)), watchdog(socket.get_executor()) {}

    void start_operation(const std::shared_ptr<state>& self);
    void finish_operation(error_code& ec);
    void arm(const std::shared_ptr<state>& self);
    void on_watchdog(const std::shared_ptr<state>& self, uint64_t armed_generation);

    tcp_socket socket;
    steady_timer watchdog;
    time_point deadline = time_point::max();
    time_point armed_for = time_point::max();  // max: no wait pending
    uint64_t generation = 0;                   // of the latest arm(): earlier waits are stale
    unsigned pending = 0;                      // operations in progress
    bool timed_out = false;
  };

 public:
  // Wraps an operation's handler: counts it finished and reports a timeout
  // as beast::error::timeout. Keeps the handler's executor, allocator and
  // cancellation slot (the associator below).
  template <class Handler>
  struct completion {
    Handler handler;
    std::shared_ptr<state> s;

    template <class... Args>
    void operator()(error_code ec, Args... args) {
      s->finish_operation(ec);
      s.reset();
      std::move(handler)(ec, args...);
    }
  };
  template <class Handler>
  static completion<Handler> wrap(Handler handler, std::shared_ptr<state> s) {
    return {std::move(handler), std::move(s)};
  }

 private:
  std::shared_ptr<state> state_;
};

// The stream of every connection, downstream and upstream.
using tcp_stream = deadline_stream;

}  // namespace bulwark::proxy

namespace boost::asio {

template <template <class, class> class Associator, class Handler, class DefaultCandidate>
struct associator<Associator, bulwark::proxy::deadline_stream::completion<Handler>,
                  DefaultCandidate> {
  using type = typename Associator<Handler, DefaultCandidate>::type;
  static type get(const bulwark::proxy::deadline_stream::completion<Handler>& c) noexcept {
    return Associator<Handler, DefaultCandidate>::get(c.handler);
  }
  static auto get(const bulwark::proxy::deadline_stream::completion<Handler>& c,
                  const DefaultCandidate& candidate) noexcept
      -> decltype(Associator<Handler, DefaultCandidate>::get(c.handler, candidate)) {
    return Associator<Handler, DefaultCandidate>::get(c.handler, candidate);
  }
};

}  // namespace boost::asio
