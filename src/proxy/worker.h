// One shared-nothing worker thread (DESIGN.md §3): its own io_context, its
// own SO_REUSEPORT acceptor per listener and its own upstream pools. Sessions
// run on their worker's thread only, so worker state needs no locks; other
// threads talk to a worker by posting to its io_context.
#pragma once

#include <atomic>
#include <future>
#include <memory>
#include <thread>
#include <unordered_set>
#include <vector>

#include "observe/access_log.h"
#include "proxy/listener.h"
#include "proxy/pipeline.h"
#include "proxy/upstream_pool.h"
#include "proxy/vocabulary.h"

namespace bulwark::proxy {

class session;

// What a request runs on: the phases of one configuration and this worker's
// pools for its upstreams. A session holds it for the whole request, so a
// reload never changes the rules under a request in flight.
struct worker_snapshot {
  std::shared_ptr<const pipeline> phases;
  std::vector<std::shared_ptr<upstream_pool>> pools;  // by upstream index
};

// A listener's acceptor on this worker, with the settings its new
// connections get.
struct listener_binding {
  std::shared_ptr<listener_state> state;
  std::shared_ptr<const config::listener> settings;
  tcp_acceptor acceptor;
  observe::listener_metrics metrics;
};

class worker {
 public:
  // `access_log` (which may be disabled) outlives the worker.
  worker(std::size_t index, observe::access_log& access_log);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  net::io_context& io() { return io_; }
  std::size_t index() const { return index_; }

  void start();
  // From any thread: stop accepting, let in-flight requests finish, close idle connections.
  void drain();
  // From any thread: stop the event loop and join the thread.
  void stop();
  std::size_t active_sessions() const { return active_sessions_.load(std::memory_order_relaxed); }

  // From any thread (posted): new requests use `phases`; pools of upstreams
  // whose settings did not change are kept, with their idle connections.
  // The future is ready once the worker uses the new snapshot.
  std::future<void> install(std::shared_ptr<const pipeline> phases,
                            std::vector<std::vector<tcp::endpoint>> upstream_endpoints);
  // From any thread (posted): start accepting on `binding.acceptor`.
  void open_listener(std::shared_ptr<listener_binding> binding);
  // From any thread (posted): new connections of `name` get `settings`.
  void update_listener(const std::string& name, std::shared_ptr<const config::listener> settings);
  // From any thread (posted): stop accepting on listener `name`.
  void close_listener(const std::string& name);

  // Pool statistics summed over this worker's current pools, by upstream name.
  // From any thread.
  std::vector<std::pair<std::string, pool_stats>> pool_usage();

  // For sessions, on this worker's thread.
  std::shared_ptr<const worker_snapshot> snapshot() const { return snapshot_; }
  observe::access_log& access_log() const { return access_log_; }
  bool draining() const { return draining_; }

  void add_session(session* s);
  void remove_session(session* s);

 private:
  awaitable<void> accept_loop(std::shared_ptr<listener_binding> binding);
  awaitable<void> sweep_idle_connections();

  std::size_t index_;
  observe::access_log& access_log_;
  std::shared_ptr<const worker_snapshot> snapshot_;
  std::vector<std::shared_ptr<listener_binding>> listeners_;
  std::unordered_set<session*> sessions_;
  std::atomic<std::size_t> active_sessions_{0};
  bool draining_ = false;
  // Declared last, destroyed first: destroying io_ destroys the coroutine
  // frames still suspended in it, whose sessions and pooled connections
  // unregister from the members above, so those must still exist.
  // One thread runs it, and only that thread touches its sockets (other
  // threads post to it), so the reactor's per-socket locks are off; the
  // scheduler's lock stays for those posts.
  net::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::thread thread_;
};

}  // namespace bulwark::proxy
