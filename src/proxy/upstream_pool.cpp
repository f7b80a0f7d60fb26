#include "proxy/upstream_pool.h"

#include <algorithm>
#include <limits>
#include <random>

#include "proxy/endpoint_health.h"

#include <sys/socket.h>
#include <cerrno>

namespace bulwark::proxy {
namespace {

acquire_result no_usable_endpoint() {
  return acquire_result{{}, acquire_error::no_healthy_endpoint,
                        "no healthy endpoint: every endpoint failed its health checks or is ejected"};
}

}  // namespace

// A request waiting for a connection. release() hands it either a reusable
// connection or a free slot (a closed connection made room to open a new one)
// and cancels its timer, which wakes the waiting coroutine.
struct upstream_pool::waiter {
  explicit waiter(executor io_executor) : timer(std::move(io_executor)) {}
  steady_timer timer;
  std::shared_ptr<upstream_connection> handed;
  bool slot_free = false;
};

pooled_connection& pooled_connection::operator=(pooled_connection&& other) noexcept {
  if (this != &other) {
    release();
    pool_ = std::exchange(other.pool_, nullptr);
    connection_ = std::move(other.connection_);
    reusable_ = std::exchange(other.reusable_, false);
  }
  return *this;
}

void pooled_connection::release() {
  if (connection_) pool_->release(std::move(connection_), reusable_);
  connection_.reset();
}

upstream_pool::upstream_pool(executor io_executor, const config::upstream& upstream,
                             std::vector<tcp::endpoint> endpoints)
    : executor_(std::move(io_executor)),
      upstream_(upstream),
      endpoints_(std::move(endpoints)),
      idle_(endpoints_.size()),
      in_use_(endpoints_.size(), 0),
      random_state_(std::random_device{}() | 1) {
  for (const auto& endpoint : endpoints_) endpoint_names_.push_back(endpoint_text(endpoint));
}

upstream_pool::~upstream_pool() { close_all_idle(); }

std::optional<std::size_t> upstream_pool::pick_endpoint(std::optional<std::size_t> avoid,
                                                         const endpoint_health* health) {
  const std::size_t n = endpoints_.size();
  const auto now = health != nullptr ? steady_now() : core::time_point{};
  const auto usable = [&](std::size_t i) { return health == nullptr || health->usable(i, now); };
  // Avoid the endpoint of the previous try only when another one is usable.
  bool other_usable = false;
  for (std::size_t i = 0; i < n && !other_usable; ++i) other_usable = usable(i) && avoid != i;
  const auto allowed = [&](std::size_t i) {
    return usable(i) && (!other_usable || !avoid || *avoid != i);
  };
  // Without another usable endpoint, only `avoid` itself may be left.
  if (!other_usable && !(avoid && usable(*avoid))) return std::nullopt;
  switch (upstream_.balance_policy) {
    case config::balance::least_request: {
      std::size_t best = n;
      for (std::size_t k = 0; k < n; ++k) {
        // Start from a rotating offset so ties spread instead of piling on endpoint 0.
        const std::size_t i = (round_robin_ + k) % n;
        if (allowed(i) && (best == n || in_use_[i] < in_use_[best])) best = i;
      }
      ++round_robin_;
      return best;
    }
    case config::balance::random: {
      random_state_ ^= random_state_ << 13;
      random_state_ ^= random_state_ >> 7;
      random_state_ ^= random_state_ << 17;
      std::size_t candidates = 0;
      for (std::size_t i = 0; i < n; ++i) candidates += allowed(i) ? 1 : 0;
      std::size_t skip = random_state_ % candidates;
      for (std::size_t i = 0;; ++i) {
        if (allowed(i) && skip-- == 0) return i;
      }
    }
    case config::balance::round_robin:
    default:
      for (;;) {
        const std::size_t i = round_robin_++ % n;
        if (allowed(i)) return i;
      }
  }
}

// A connection that sat idle for a while may have been closed by the
// upstream (its keep-alive timeout) or may hold bytes nobody asked for;
// either way it must not carry another request. One non-blocking peek tells.
// Connections reused sooner than `peek_after` skip the check: under load that
// is nearly all of them, and watching every idle socket instead would cost an
// epoll_ctl per request (Asio re-arms the descriptor for each async_wait).
// The rare stale connection that slips through is handled by the forwarder,
// which replays a request without a body once on a fresh connection.
bool upstream_pool::still_usable(upstream_connection& connection, core::time_point now) const {
  if (now - connection.idle_since < peek_after) return true;
  char byte;
  const auto n = ::recv(connection.stream.socket().native_handle(), &byte, 1,
                        MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::shared_ptr<upstream_connection> upstream_pool::take_idle(std::size_t endpoint) {
  auto& idle = idle_[endpoint];
  const auto now = steady_now();
  while (!idle.empty()) {
    auto connection = std::move(idle.back());
    idle.pop_back();
    if (still_usable(*connection, now)) return connection;
    close_connection(*connection);
    --open_;
  }
  return nullptr;
}

pooled_connection upstream_pool::lend(std::shared_ptr<upstream_connection> connection) {
  ++in_use_[connection->endpoint];
  return pooled_connection(this, std::move(connection));
}

std::variant<acquire_result, std::size_t> upstream_pool::acquire_now(
    std::optional<std::size_t> avoid, const endpoint_health* health) {
  const auto picked = pick_endpoint(avoid, health);
  if (!picked) return no_usable_endpoint();
  if (auto idle = take_idle(*picked)) return acquire_result{lend(std::move(idle))};
  return *picked;
}

awaitable<acquire_result> upstream_pool::acquire(std::size_t endpoint, core::time_point deadline,
                                                 std::optional<std::size_t> avoid,
                                                 const endpoint_health* health) {
  if (open_ < upstream_.pool.max_connections || make_room()) {
    auto connected = co_await connect(endpoint, deadline);
    co_return connected;
  }
  if (waiters_.size() >= upstream_.max_pending) {
    co_return acquire_result{{}, acquire_error::pool_full,
                             "upstream connection pool and pending queue are full"};
  }
  auto waited = co_await wait_for_connection(deadline, avoid, health);
  co_return waited;
}

// At max_connections with idle connections to other endpoints: close the
// oldest-parked of them so this request can open one where it was balanced.
bool upstream_pool::make_room() {
  for (auto& idle : idle_) {
    if (idle.empty()) continue;
    auto victim = std::move(idle.front());
    idle.erase(idle.begin());
    close_connection(*victim);
    --open_;
    return true;
  }
  return false;
}

awaitable<acquire_result> upstream_pool::connect(std::size_t endpoint, core::time_point deadline) {
  ++open_;
  auto connection = std::make_shared<upstream_connection>(executor_, endpoint);
  const auto connect_deadline = std::min(deadline, steady_now() + upstream_.connect_timeout);
  connection->stream.expires_at(connect_deadline);
  auto [ec] = co_await connection->stream.async_connect(endpoints_[endpoint], use_nothrow);
  if (!ec) {
    connection->stream.socket().set_option(tcp::no_delay(true), ec);
    co_return acquire_result{lend(std::move(connection))};
  }
  --open_;
  // The slot this attempt held is free again: let a waiter use it.
  release(nullptr, false);
  const bool timed_out = ec == beast::error::timeout;
  co_return acquire_result{{}, timed_out ? acquire_error::timeout : acquire_error::connect_failed,
                           (timed_out ? "connect timeout to " : "connect to ") +
                               endpoint_names_[endpoint] + " failed" +
                               (timed_out ? "" : ": " + ec.message()),
                           endpoint};
}

awaitable<acquire_result> upstream_pool::wait_for_connection(core::time_point deadline,
                                                             std::optional<std::size_t> avoid,
                                                             const endpoint_health* health) {
  waiter self(executor_);
  self.timer.expires_at(std::chrono::steady_clock::time_point(deadline.time_since_epoch()));
  waiters_.push_back(&self);
  co_await self.timer.async_wait(use_nothrow);
  // Still queued means the deadline passed (or the coroutine is being torn down).
  std::erase(waiters_, &self);
  if (self.handed) co_return acquire_result{lend(std::move(self.handed))};
  if (self.slot_free) {
    const auto picked = pick_endpoint(avoid, health);
    if (!picked) {
      release(nullptr, false);  // pass the slot on
      co_return no_usable_endpoint();
    }
    auto connected = co_await connect(*picked, deadline);
    co_return connected;
  }
  co_return acquire_result{{}, acquire_error::timeout, "timed out waiting for an upstream connection"};
}

void upstream_pool::release(std::shared_ptr<upstream_connection> connection, bool reusable) {
  if (shut_down_) return;  // the connection closes with its last owner
  if (connection) --in_use_[connection->endpoint];
  if (connection && !reusable) {
    close_connection(*connection);
    --open_;
    connection.reset();
  }
  if (!waiters_.empty()) {
    waiter* next = waiters_.front();
    waiters_.pop_front();
    if (connection) {
      connection->reused = true;
      next->handed = std::move(connection);
    } else if (open_ < upstream_.pool.max_connections) {
      next->slot_free = true;
    } else {
      waiters_.push_front(next);  // nothing to give yet
      return;
    }
    next->timer.cancel();
    return;
  }
  if (connection) park_idle(std::move(connection));
}

void upstream_pool::park_idle(std::shared_ptr<upstream_connection> connection) {
  auto& idle = idle_[connection->endpoint];
  std::size_t idle_total = 0;
  for (const auto& list : idle_) idle_total += list.size();
  if (idle_total >= upstream_.pool.max_idle) {
    close_connection(*connection);
    --open_;
    return;
  }
  connection->reused = true;
  connection->idle_since = steady_now();
  idle.push_back(std::move(connection));
}

void upstream_pool::close_connection(upstream_connection& connection) {
  error_code ignored;
  connection.stream.socket().shutdown(tcp_socket::shutdown_both, ignored);
  connection.stream.socket().close(ignored);
}

void upstream_pool::close_expired_idle(core::time_point now) {
  for (auto& idle : idle_) {
    std::erase_if(idle, [&](const std::shared_ptr<upstream_connection>& connection) {
      if (now - connection->idle_since < upstream_.pool.idle_timeout) return false;
      close_connection(*connection);
      --open_;
      return true;
    });
  }
}

void upstream_pool::close_all_idle() {
  for (auto& idle : idle_) {
    for (auto& connection : idle) {
      close_connection(*connection);
      --open_;
    }
    idle.clear();
  }
}

void upstream_pool::shut_down() {
  close_all_idle();
  shut_down_ = true;
}

pool_stats upstream_pool::stats() const {
  pool_stats stats{.open = open_, .pending = static_cast<uint32_t>(waiters_.size())};
  for (const auto& idle : idle_) stats.idle += static_cast<uint32_t>(idle.size());
  return stats;
}

}  // namespace bulwark::proxy
