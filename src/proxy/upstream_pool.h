// A worker's connections to one upstream (DESIGN.md §3): keep-alive
// connections reused LIFO per endpoint, at most `pool.max_connections` open,
// at most `pool.max_idle` idle (each closed after `pool.idle_timeout`), and at
// most `max_pending` requests waiting for a connection. Each worker owns its
// pools, so nothing here is shared between threads and nothing takes a lock.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "config/config.h"
#include "proxy/deadline_stream.h"
#include "proxy/vocabulary.h"

namespace bulwark::proxy {

struct upstream_connection {
  upstream_connection(executor io_executor, std::size_t endpoint_index)
      : stream(std::move(io_executor)), endpoint(endpoint_index) {}

  tcp_stream stream;
  beast::flat_buffer buffer;
  std::size_t endpoint;
  bool reused = false;  // served a request before: it may have been closed under us
  core::time_point idle_since{};
};

class upstream_pool;
class endpoint_health;

// A connection lent by the pool: back to the pool when destroyed if
// keep_alive(true) was called, else closed. Releasing on every path (errors,
// timeouts, cancelled coroutines) is what keeps the pool's counts right.
class pooled_connection {
 public:
  pooled_connection() = default;
  pooled_connection(upstream_pool* pool, std::shared_ptr<upstream_connection> connection)
      : pool_(pool), connection_(std::move(connection)) {}
  pooled_connection(pooled_connection&& other) noexcept { *this = std::move(other); }
  pooled_connection& operator=(pooled_connection&& other) noexcept;
  pooled_connection(const pooled_connection&) = delete;
  pooled_connection& operator=(const pooled_connection&) = delete;
  ~pooled_connection() { release(); }

  explicit operator bool() const { return connection_ != nullptr; }
  upstream_connection* operator->() const { return connection_.get(); }
  upstream_connection& operator*() const { return *connection_; }
  void keep_alive(bool reusable) { reusable_ = reusable; }
  void release();

 private:
  upstream_pool* pool_ = nullptr;
  std::shared_ptr<upstream_connection> connection_;
  bool reusable_ = false;
};

enum class acquire_error {
  none,
  pool_full,       // max_connections busy and max_pending waiting: 503
  connect_failed,  // refused, unreachable: 502
  timeout,         // connect_timeout or the request's deadline: 504
  no_healthy_endpoint,  // every endpoint failed its health checks or is ejected: 503
};

struct acquire_result {
  pooled_connection connection;
  acquire_error error = acquire_error::none;
  std::string detail;
  std::optional<std::size_t> endpoint;  // the endpoint a failed connect was to
};

struct pool_stats {
  uint32_t open = 0;
  uint32_t idle = 0;
  uint32_t pending = 0;
};

class upstream_pool {
 public:
  // Idle connections older than this are checked before reuse (take_idle).
  static constexpr core::duration peek_after = std::chrono::milliseconds(500);

  upstream_pool(executor io_executor, const config::upstream& upstream,
                std::vector<tcp::endpoint> endpoints);
  ~upstream_pool();
  upstream_pool(const upstream_pool&) = delete;
  upstream_pool& operator=(const upstream_pool&) = delete;

  // Acquiring a connection, in two steps so that the common case costs no
  // coroutine frame. acquire_now() picks an endpoint by the balance policy
  // among those `health` calls usable (all, when null), avoiding `avoid` when
  // another usable endpoint exists, and returns what needs no waiting: an
  // idle connection to it, or the failure that none is usable. Otherwise it
  // returns the endpoint, and acquire() opens a connection there, or waits
  // (bounded by `deadline`) when the pool is at max_connections.
  std::variant<acquire_result, std::size_t> acquire_now(std::optional<std::size_t> avoid = std::nullopt,
                                                        const endpoint_health* health = nullptr);
  awaitable<acquire_result> acquire(std::size_t endpoint, core::time_point deadline,
                                    std::optional<std::size_t> avoid = std::nullopt,
                                    const endpoint_health* health = nullptr);

  // Closes idle connections older than the pool's idle_timeout; the worker
  // calls it periodically.
  void close_expired_idle(core::time_point now);
  // Closes idle connections and keeps none from now on (worker shutdown).
  void shut_down();

  pool_stats stats() const;
  const std::string& name() const { return upstream_.name; }
  const tcp::endpoint& endpoint(std::size_t index) const { return endpoints_[index]; }
  // endpoint_text() of an endpoint, made once: the access log names the
  // endpoint of every request, and inet_ntop costs ~4% of a request's CPU.
  const std::string& endpoint_name(std::size_t index) const { return endpoint_names_[index]; }

 private:
  friend class pooled_connection;
  struct waiter;

  std::optional<std::size_t> pick_endpoint(std::optional<std::size_t> avoid,
                                           const endpoint_health* health);
  std::shared_ptr<upstream_connection> take_idle(std::size_t endpoint);
  awaitable<acquire_result> connect(std::size_t endpoint, core::time_point deadline);
  awaitable<acquire_result> wait_for_connection(core::time_point deadline,
                                                std::optional<std::size_t> avoid,
                                                const endpoint_health* health);
  void release(std::shared_ptr<upstream_connection> connection, bool reusable);
  void park_idle(std::shared_ptr<upstream_connection> connection);
  bool still_usable(upstream_connection& connection, core::time_point now) const;
  void close_connection(upstream_connection& connection);
  void close_all_idle();
  bool make_room();
  pooled_connection lend(std::shared_ptr<upstream_connection> connection);

  executor executor_;
  const config::upstream upstream_;
  std::vector<tcp::endpoint> endpoints_;
  std::vector<std::string> endpoint_names_;  // endpoint_text() of each
  std::vector<std::vector<std::shared_ptr<upstream_connection>>> idle_;  // per endpoint, LIFO
  std::vector<uint32_t> in_use_;                                         // per endpoint
  uint32_t open_ = 0;  // connecting + in use + idle
  std::deque<waiter*> waiters_;
  uint64_t round_robin_ = 0;
  uint64_t random_state_;
  bool shut_down_ = false;
};

}  // namespace bulwark::proxy
