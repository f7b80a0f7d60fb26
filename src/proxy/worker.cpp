#include "proxy/worker.h"

#include "observe/log.h"
#include "proxy/session.h"

namespace bulwark::proxy {
namespace {

constexpr auto idle_sweep_interval = std::chrono::seconds(1);

}  // namespace

worker::worker(std::size_t index, std::shared_ptr<const pipeline> phases,
               const std::vector<std::vector<tcp::endpoint>>& upstream_endpoints)
    : index_(index), phases_(std::move(phases)) {
  const auto& upstreams = phases_->config().upstreams;
  for (std::size_t i = 0; i < upstreams.size(); ++i) {
    pools_.push_back(
        std::make_unique<upstream_pool>(io_.get_executor(), upstreams[i], upstream_endpoints[i]));
  }
}

worker::~worker() {
  stop();
  // Sockets must not outlive io_: acceptors go now, and pools stop keeping
  // connections, so those released while io_ destroys its frames are closed.
  acceptors_.clear();
  for (auto& pool : pools_) pool->shut_down();
}

void worker::add_acceptor(tcp::acceptor acceptor, listener_state& listener) {
  acceptors_.push_back(std::make_unique<acceptor_entry>(acceptor_entry{std::move(acceptor), &listener}));
}

void worker::start() {
  for (auto& entry : acceptors_) net::co_spawn(io_, accept_loop(*entry), net::detached);
  net::co_spawn(io_, sweep_idle_connections(), net::detached);
  thread_ = std::thread([this] { io_.run(); });
}

void worker::drain() {
  net::post(io_, [this] {
    draining_ = true;
    for (auto& entry : acceptors_) {
      error_code ignored;
      entry->acceptor.close(ignored);
    }
    // close_if_idle() may end a session, which removes itself from sessions_.
    const std::vector<session*> open(sessions_.begin(), sessions_.end());
    for (auto* s : open) s->close_if_idle();
  });
}

void worker::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void worker::add_session(session* s) {
  sessions_.insert(s);
  active_sessions_.store(sessions_.size(), std::memory_order_relaxed);
}

void worker::remove_session(session* s) {
  sessions_.erase(s);
  active_sessions_.store(sessions_.size(), std::memory_order_relaxed);
}

awaitable<void> worker::accept_loop(acceptor_entry& entry) {
  for (;;) {
    auto [ec, socket] = co_await entry.acceptor.async_accept(use_nothrow);
    if (ec == net::error::operation_aborted || !entry.acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors and the like: back off briefly instead of spinning.
      observe::log(observe::log_level::warn, "accept failed",
                   {{"listener", entry.listener->config().name}, {"error", ec.message()}});
      net::steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;  // already gone
    std::string client_ip = peer.address().to_string();
    if (entry.listener->admit(client_ip) != admission::admitted) {
      // Over max_connections or max_connections_per_ip: closed at once
      // (the kernel's backlog is not a queue we want clients to wait in).
      socket.close(peer_ec);
      continue;
    }
    net::co_spawn(io_,
                  serve_connection(*this, std::move(socket),
                                   connection_slot(*entry.listener, std::move(client_ip))),
                  net::detached);
  }
}

awaitable<void> worker::sweep_idle_connections() {
  net::steady_timer timer(io_);
  for (;;) {
    timer.expires_after(idle_sweep_interval);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
    const auto now = steady_now();
    for (auto& pool : pools_) pool->close_expired_idle(now);
  }
}

}  // namespace bulwark::proxy
