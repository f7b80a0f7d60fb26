// Real sockets for the tests of src/proxy's socket layer: a connected pair
// over loopback, and a bounded run of a coroutine on its io_context, so that
// a read that never completes fails the test instead of hanging it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <utility>

#include "http/net.h"

namespace bulwark::http::test {

// Both ends of a new loopback connection on `context`: {connecting, accepted}.
inline std::pair<tcp_socket, tcp_socket> loopback_pair(net::io_context& context) {
  tcp_acceptor acceptor(context, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  tcp_socket connecting(context);
  connecting.connect(acceptor.local_endpoint());
  return {std::move(connecting), acceptor.accept()};
}

// Runs `body` on `context` until it completes (then stops the context: a
// timer may still wait for a later deadline), or fails the test after 5 s.
// An exception from `body` propagates.
inline void run_bounded(net::io_context& context, awaitable<void> body) {
  bool done = false;
  std::exception_ptr failure;
  net::co_spawn(context, std::move(body), [&](std::exception_ptr thrown) {
    done = true;
    failure = thrown;
    context.stop();
  });
  context.run_for(std::chrono::seconds(5));
  if (failure) std::rethrow_exception(failure);
  ASSERT_TRUE(done) << "did not finish in 5 s: a read never completed";
}

}  // namespace bulwark::http::test
