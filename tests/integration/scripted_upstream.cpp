#include "integration/scripted_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace bulwark::test {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The value of header `name` (lower case) in a header section, "" if absent.
std::string header_value(const std::string& head, const std::string& name) {
  const std::string lowered = lower(head);
  const auto at = lowered.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  auto start = at + name.size() + 3;
  const auto end = head.find("\r\n", start);
  while (start < end && (head[start] == ' ' || head[start] == '\t')) ++start;
  return head.substr(start, end - start);
}

bool write_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::string reason_of(int status) {
  switch (status) {
    case 200: return "OK";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

}  // namespace

scripted_upstream::scripted_upstream(script_function script) : script_(std::move(script)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 512) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("scripted_upstream: cannot listen on 127.0.0.1:0");
  }
  socklen_t length = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

scripted_upstream::~scripted_upstream() { stop(); }

void scripted_upstream::set_script(script_function script) {
  std::lock_guard lock(mutex_);
  script_ = std::move(script);
}

void scripted_upstream::stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (int fd : connections_) ::shutdown(fd, SHUT_RDWR);
    threads = std::move(threads_);
  }
  for (auto& thread : threads) thread.join();
}

std::size_t scripted_upstream::count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

std::vector<scripted_request> scripted_upstream::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

void scripted_upstream::accept_loop() {
  while (!stopping_) {
    pollfd waiting{listen_fd_, POLLIN, 0};
    if (::poll(&waiting, 1, 50) <= 0) continue;
    const int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    connections_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void scripted_upstream::serve(int fd) {
  std::string buffer;
  char chunk[16384];
  const auto receive = [&]() {
    const auto n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<std::size_t>(n));
    return true;
  };
  bool reset = false;
  for (;;) {
    std::size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!receive()) break;
    }
    if (head_end == std::string::npos) break;
    const std::string head = buffer.substr(0, head_end + 2);
    const std::size_t length = std::strtoull(header_value(head, "content-length").c_str(), nullptr, 10);
    while (buffer.size() < head_end + 4 + length) {
      if (!receive()) break;
    }
    if (buffer.size() < head_end + 4 + length) break;
    scripted_request request;
    request.arrived = std::chrono::steady_clock::now();
    const auto first_space = head.find(' ');
    const auto second_space = head.find(' ', first_space + 1);
    request.method = head.substr(0, first_space);
    request.target = head.substr(first_space + 1, second_space - first_space - 1);
    request.body = buffer.substr(head_end + 4, length);
    buffer.erase(0, head_end + 4 + length);
    script_function script;
    std::size_t index;
    {
      std::lock_guard lock(mutex_);
      index = requests_.size();
      requests_.push_back(request);
      script = script_;
    }
    const auto response = script(request, index);
    if (response.delay.count() > 0) std::this_thread::sleep_for(response.delay);
    if (response.reset) {
      reset = true;
      break;
    }
    std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                      reason_of(response.status) + "\r\n";
    for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
    out += "Content-Length: " + std::to_string(response.body.size()) + "\r\n\r\n";
    out += response.body;
    if (!write_all(fd, out)) break;
    if (lower(header_value(head, "connection")) == "close") break;
  }
  {
    std::lock_guard lock(mutex_);
    std::erase(connections_, fd);
  }
  if (reset) {  // RST rather than FIN: SO_LINGER with a zero timeout
    linger abort{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  }
  ::close(fd);
}

}  // namespace bulwark::test
