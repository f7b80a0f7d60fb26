// An upstream whose every answer the test decides, and which records every
// request it receives with the time it arrived (timestamps taken at the
// upstream, as the chaos scenarios of issue 5 ask). Real sockets on
// 127.0.0.1 port 0, one thread per connection, HTTP/1.1 keep-alive; small on
// purpose: the chaos tests need control, not speed.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bulwark::test {

struct scripted_request {
  std::string method;
  std::string target;
  std::string body;
  std::chrono::steady_clock::time_point arrived;
};

struct scripted_response {
  int status = 200;
  std::string body = "ok";
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds delay{0};  // before the response is written
  bool reset = false;                  // close the connection instead of answering
};

class scripted_upstream {
 public:
  // `script` is called for every request with its 0-based arrival index; it
  // runs on the connection's thread (a delay holds only that connection).
  using script_function = std::function<scripted_response(const scripted_request&, std::size_t)>;

  explicit scripted_upstream(script_function script);
  ~scripted_upstream();  // stop()
  scripted_upstream(const scripted_upstream&) = delete;
  scripted_upstream& operator=(const scripted_upstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Replaces the script for requests that arrive from now on.
  void set_script(script_function script);
  // Closes the listener and every connection (a killed upstream); joins threads.
  void stop();

  std::size_t count() const;
  std::vector<scripted_request> requests() const;

 private:
  void accept_loop();
  void serve(int fd);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  script_function script_;
  std::vector<scripted_request> requests_;
  std::vector<int> connections_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace bulwark::test
