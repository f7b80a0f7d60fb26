// One shared-nothing worker thread (DESIGN.md §3): its own io_context, its
// own SO_REUSEPORT acceptor per listener and its own upstream pools. Sessions
// run on their worker's thread only, so worker state needs no locks; other
// threads talk to a worker by posting to its io_context.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "proxy/listener.h"
#include "proxy/net.h"
#include "proxy/pipeline.h"
#include "proxy/upstream_pool.h"

namespace bulwark::proxy {

class session;

class worker {
 public:
  worker(std::size_t index, std::shared_ptr<const pipeline> phases,
         const std::vector<std::vector<tcp::endpoint>>& upstream_endpoints);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  net::io_context& io() { return io_; }
  std::size_t index() const { return index_; }

  // Before start(): an acceptor bound for `listener`, owned by this worker.
  void add_acceptor(tcp::acceptor acceptor, listener_state& listener);
  void start();
  // From any thread: stop accepting, let in-flight requests finish, close idle connections.
  void drain();
  // From any thread: stop the event loop and join the thread.
  void stop();
  std::size_t active_sessions() const { return active_sessions_.load(std::memory_order_relaxed); }

  // For sessions, on this worker's thread.
  const pipeline& phases() const { return *phases_; }
  upstream_pool& pool(std::size_t upstream_index) { return *pools_[upstream_index]; }
  bool draining() const { return draining_; }
  void add_session(session* s);
  void remove_session(session* s);

 private:
  struct acceptor_entry {
    tcp::acceptor acceptor;
    listener_state* listener;
  };

  awaitable<void> accept_loop(acceptor_entry& entry);
  awaitable<void> sweep_idle_connections();

  std::size_t index_;
  std::shared_ptr<const pipeline> phases_;
  std::vector<std::unique_ptr<upstream_pool>> pools_;
  std::vector<std::unique_ptr<acceptor_entry>> acceptors_;
  std::unordered_set<session*> sessions_;
  std::atomic<std::size_t> active_sessions_{0};
  bool draining_ = false;
  // Declared last, destroyed first: destroying io_ destroys the coroutine
  // frames still suspended in it, whose sessions and pooled connections
  // unregister from the members above, so those must still exist.
  net::io_context io_{1};
  std::thread thread_;
};

}  // namespace bulwark::proxy
