// A downstream connection: reads requests one after another (pipelined
// requests are answered in order, because they are served in order), runs
// each through the phases and the forwarder, and answers errors itself as
// problem+json. Every read has a size limit and a deadline.
#pragma once

#include <memory>
#include <optional>

#include "proxy/listener.h"
#include "proxy/net.h"
#include "proxy/problem.h"

namespace bulwark::proxy {

class worker;

// Serves one accepted connection until it closes; the coroutine owns the session.
awaitable<void> serve_connection(worker& owner, tcp::socket socket,
                                 std::shared_ptr<const config::listener> settings,
                                 connection_slot slot);

class session {
 public:
  session(worker& owner, tcp::socket socket, std::shared_ptr<const config::listener> settings,
          connection_slot slot);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  awaitable<void> run();
  // Draining: a connection waiting for its next request is closed now.
  void close_if_idle();

 private:
  using request_parser = http::request_parser<http::buffer_body>;
  enum class read_status { ready, closed, failed };

  awaitable<read_status> read_header(std::optional<request_parser>& parser,
                                     std::optional<local_response>& failure);
  awaitable<read_status> receive_header_section(std::size_t& length,
                                                std::optional<local_response>& failure);
  bool parse_header(std::size_t length, std::optional<request_parser>& parser,
                    std::optional<local_response>& failure);
  awaitable<bool> serve_request(request_parser& parser);
  awaitable<bool> write_local(const local_response& response, std::string_view request_id,
                              bool head_request, bool keep_alive);
  const std::string& request_id_header() const;
  awaitable<void> lingering_close();

  worker& worker_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  connection_slot slot_;
  // The listener's settings when the connection was accepted: a reload
  // applies to new connections.
  std::shared_ptr<const config::listener> settings_;
  const config::listener_limits& limits_;
  core::time_point connected_at_;
  std::unique_ptr<char[]> scratch_;  // body relay buffer, allocated on first use
  bool first_request_ = true;
  bool idle_ = false;
};

}  // namespace bulwark::proxy
