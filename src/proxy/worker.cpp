#include "proxy/worker.h"

#include <future>

#include "observe/log.h"
#include "proxy/session.h"

namespace bulwark::proxy {
namespace {

constexpr auto idle_sweep_interval = std::chrono::seconds(1);

// A pool can carry over a reload when nothing that shapes it changed.
bool same_pool_settings(const config::upstream& a, const config::upstream& b) {
  return a.endpoints == b.endpoints && a.balance_policy == b.balance_policy && a.connect_timeout == b.connect_timeout &&
         a.pool.max_connections == b.pool.max_connections && a.pool.max_idle == b.pool.max_idle &&
         a.pool.idle_timeout == b.pool.idle_timeout && a.max_pending == b.max_pending;
}

}  // namespace

worker::worker(std::size_t index, observe::access_log& access_log)
    : index_(index), access_log_(access_log) {}

worker::~worker() {
  stop();
  // Sockets must not outlive io_: acceptors go now, and pools stop keeping
  // connections, so those released while io_ destroys its frames are closed.
  listeners_.clear();
  if (snapshot_) {
    for (const auto& pool : snapshot_->pools) pool->shut_down();
  }
}

void worker::start() {
  net::co_spawn(io_, sweep_idle_connections(), net::detached);
  thread_ = std::thread([this] { io_.run(); });
}

void worker::drain() {
  net::post(io_, [this] {
    draining_ = true;
    for (auto& binding : listeners_) {
      error_code ignored;
      binding->acceptor.close(ignored);
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

std::future<void> worker::install(std::shared_ptr<const pipeline> phases,
                                  std::vector<std::vector<tcp::endpoint>> upstream_endpoints) {
  auto installed = std::make_shared<std::promise<void>>();
  auto done = installed->get_future();
  net::post(io_, [this, installed, phases = std::move(phases),
                  endpoints = std::move(upstream_endpoints)] {
    auto next = std::make_shared<worker_snapshot>();
    next->phases = phases;
    const auto& upstreams = phases->config().upstreams;
    for (std::size_t i = 0; i < upstreams.size(); ++i) {
      std::shared_ptr<upstream_pool> kept;
      if (snapshot_) {
        const auto& old_upstreams = snapshot_->phases->config().upstreams;
        for (std::size_t j = 0; j < old_upstreams.size() && !kept; ++j) {
          if (old_upstreams[j].name == upstreams[i].name &&
              same_pool_settings(old_upstreams[j], upstreams[i])) {
            kept = snapshot_->pools[j];
          }
        }
      }
      next->pools.push_back(kept ? kept
                                 : std::make_shared<upstream_pool>(io_.get_executor(), upstreams[i],
                                                                   endpoints[i]));
    }
    snapshot_ = std::move(next);
    installed->set_value();
  });
  return done;
}

void worker::open_listener(std::shared_ptr<listener_binding> binding) {
  net::post(io_, [this, binding = std::move(binding)] {
    if (draining_) return;
    listeners_.push_back(binding);
    net::co_spawn(io_, accept_loop(binding), net::detached);
  });
}

void worker::update_listener(const std::string& name,
                             std::shared_ptr<const config::listener> settings) {
  net::post(io_, [this, name, settings = std::move(settings)] {
    for (auto& binding : listeners_) {
      if (binding->settings->name == name) binding->settings = settings;
    }
  });
}

void worker::close_listener(const std::string& name) {
  net::post(io_, [this, name] {
    std::erase_if(listeners_, [&](const std::shared_ptr<listener_binding>& binding) {
      if (binding->settings->name != name) return false;
      error_code ignored;
      binding->acceptor.close(ignored);
      return true;
    });
  });
}

std::vector<std::pair<std::string, pool_stats>> worker::pool_usage() {
  using rows = std::vector<std::pair<std::string, pool_stats>>;
  auto usage = std::make_shared<std::promise<rows>>();  // outlives a timed-out wait
  auto result = usage->get_future();
  net::post(io_, [this, usage] {
    rows current;
    if (snapshot_) {
      for (const auto& pool : snapshot_->pools) current.emplace_back(pool->name(), pool->stats());
    }
    usage->set_value(std::move(current));
  });
  if (result.wait_for(std::chrono::seconds(1)) != std::future_status::ready) return {};
  return result.get();
}

void worker::add_session(session* s) {
  sessions_.insert(s);
  active_sessions_.store(sessions_.size(), std::memory_order_relaxed);
}

void worker::remove_session(session* s) {
  sessions_.erase(s);
  active_sessions_.store(sessions_.size(), std::memory_order_relaxed);
}

awaitable<void> worker::accept_loop(std::shared_ptr<listener_binding> binding) {
  for (;;) {
    auto [ec, socket] = co_await binding->acceptor.async_accept(use_nothrow);
    if (ec == net::error::operation_aborted || !binding->acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors and the like: back off briefly instead of spinning.
      observe::log(observe::log_level::warn, "accept failed",
                   {{"listener", binding->settings->name}, {"error", ec.message()}});
      steady_timer pause(io_, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_nothrow);
      continue;
    }
    error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    if (peer_ec) continue;  // already gone
    std::string client_ip = peer.address().to_string();
    const auto admitted = binding->state->admit(client_ip);
    if (admitted != admission::admitted) {
      // Over max_connections or max_connections_per_ip: closed at once
      // (the kernel's backlog is not a queue we want clients to wait in).
      binding->metrics.reject(index_, admitted == admission::over_max
                                          ? observe::rejection_reason::max
                                          : observe::rejection_reason::per_ip);
      socket.close(peer_ec);
      continue;
    }
    net::co_spawn(io_,
                  serve_connection(*this, std::move(socket), binding->settings,
                                   connection_slot(binding->state, std::move(client_ip),
                                                   binding->metrics, index_)),
                  net::detached);
  }
}

awaitable<void> worker::sweep_idle_connections() {
  steady_timer timer(io_);
  for (;;) {
    timer.expires_after(idle_sweep_interval);
    auto [ec] = co_await timer.async_wait(use_nothrow);
    if (ec) co_return;
    if (!snapshot_) continue;
    const auto now = steady_now();
    for (auto& pool : snapshot_->pools) pool->close_expired_idle(now);
  }
}

}  // namespace bulwark::proxy
