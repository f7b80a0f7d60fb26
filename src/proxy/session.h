// A downstream connection: reads requests one after another (pipelined
// requests are answered in order, because they are served in order), runs
// each through the phases and the forwarder, and answers errors itself as
// problem+json. Every read has a size limit and a deadline.
#pragma once

#include <memory>
#include <optional>

#include "http/problem.h"
#include "observe/access_log.h"
#include "proxy/deadline_stream.h"
#include "proxy/listener.h"
#include "proxy/vocabulary.h"

namespace bulwark::phase {
struct request_context;
}  // namespace bulwark::phase

namespace bulwark::proxy {

class worker;
class pipeline;
struct worker_snapshot;
using phase::request_context;
struct forward_result;

// Serves one accepted connection until it closes; the coroutine owns the session.
awaitable<void> serve_connection(worker& owner, tcp_socket socket,
                                 std::shared_ptr<const config::listener> settings,
                                 connection_slot slot);

class session {
 public:
  session(worker& owner, tcp_socket socket, std::shared_ptr<const config::listener> settings,
          connection_slot slot);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  awaitable<void> run();
  // Draining: a connection waiting for its next request is closed now.
  void close_if_idle();

 private:
  enum class read_status { ready, closed, failed };

  awaitable<void> refuse(const local_response& failure);
  awaitable<read_status> receive_header_section(std::size_t& length,
                                                std::optional<local_response>& failure);
  bool parse_header(std::size_t length, std::optional<request_parser>& parser,
                    std::optional<local_response>& failure);
  awaitable<bool> respond(request_parser& parser, const worker_snapshot& snapshot,
                          request_context& ctx, forward_result& outcome);
  void account(const pipeline& phases, const request_context& ctx, const forward_result& outcome);
  std::optional<observe::access_record> finish(const pipeline& phases, const config::route* route,
                                               unsigned status, core::time_point start);
  awaitable<bool> write_local(const local_response& response, std::string_view request_id,
                              bool head_request, bool keep_alive);
  awaitable<bool> answer(const local_response& response, std::string_view request_id,
                         bool head_request, bool keep_alive, forward_result& outcome);
  const std::string& request_id_header() const;
  awaitable<void> lingering_close();

  worker& worker_;
  tcp_stream stream_;
  beast::flat_buffer buffer_;
  connection_slot slot_;
  // The listener's settings when the connection was accepted: a reload
  // applies to new connections.
  std::shared_ptr<const config::listener> settings_;
  const config::listener_limits& limits_;
  core::time_point connected_at_;
  core::time_point request_started_;  // first byte of the current request's header
  // The listener's index in the configuration last used, for metric handles.
  const pipeline* listener_index_for_ = nullptr;
  std::size_t listener_index_ = 0;
  std::string head_;                 // outgoing header sections, capacity kept
  bool first_request_ = true;
  bool idle_ = false;
};

}  // namespace bulwark::proxy
