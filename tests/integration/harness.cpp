// The integration-test harness (see harness.h for what and why).
#include "integration/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace bulwark::test {

namespace {

constexpr std::size_t max_head_bytes = 1 << 20;
constexpr std::size_t max_line_bytes = 1 << 16;
constexpr milliseconds poll_interval = 10ms;

std::runtime_error system_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](char x, char y) { return std::tolower(static_cast<unsigned char>(x)) ==
                                                std::tolower(static_cast<unsigned char>(y)); });
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string tail(std::string text, std::size_t limit) {
  if (text.size() <= limit) return text;
  return "[...]" + text.substr(text.size() - limit);
}

int milliseconds_until(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<milliseconds::rep>(left.count(), 0, 60'000));
}

// "name: value" with no whitespace before the colon (RFC 9112 §5.1).
std::optional<std::pair<std::string, std::string>> parse_field(std::string_view line) {
  auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  auto name = line.substr(0, colon);
  if (name.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return std::pair{std::string(name), std::string(trim_ows(line.substr(colon + 1)))};
}

// "HTTP/1.1 200 OK"; the reason phrase may be empty, with or without its space.
bool parse_status_line(std::string_view line, http_response& response) {
  auto digit = [&](std::size_t i) { return i < line.size() && line[i] >= '0' && line[i] <= '9'; };
  if (!line.starts_with("HTTP/") || !digit(5) || line.substr(6, 1) != "." || !digit(7) || line.substr(8, 1) != " " ||
      !digit(9) || !digit(10) || !digit(11) || (line.size() > 12 && line[12] != ' ')) {
    return false;
  }
  response.version = line.substr(0, 8);
  response.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  response.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  return true;
}

std::uint16_t port_of_address(std::string_view address) {
  auto colon = address.rfind(':');
  unsigned port = 0;
  if (colon != std::string::npos) {
    std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
  }
  return static_cast<std::uint16_t>(port);
}

}  // namespace

std::string binary_path(std::string_view name) {
  std::array<char, 4096> self{};
  auto n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  if (n <= 0) throw system_error("readlink /proc/self/exe");
  auto dir = std::filesystem::path(std::string(self.data(), static_cast<std::size_t>(n))).parent_path();
  return (dir / std::string(name)).string();
}

// --- files --------------------------------------------------------------------

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/bulwark-test-XXXXXX";
  if (!::mkdtemp(pattern.data())) throw system_error("mkdtemp " + pattern);
  path_ = pattern;
}

temp_dir::~temp_dir() { remove(); }

temp_dir::temp_dir(temp_dir&& other) noexcept : path_(std::exchange(other.path_, {})) {}

temp_dir& temp_dir::operator=(temp_dir&& other) noexcept {
  if (this != &other) {
    remove();
    path_ = std::exchange(other.path_, {});
  }
  return *this;
}

void temp_dir::remove() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  path_.clear();
}

void write_file(const std::string& path, std::string_view text) {
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!file.flush()) throw std::runtime_error("cannot write " + path);
}

std::string read_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::vector<nlohmann::json> json_lines(std::string_view text) {
  std::vector<nlohmann::json> lines;
  while (!text.empty()) {
    auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (!line.starts_with('{')) continue;
    auto parsed = nlohmann::json::parse(line, nullptr, false);
    if (!parsed.is_discarded()) lines.push_back(std::move(parsed));
  }
  return lines;
}

// --- process ------------------------------------------------------------------

process::process(std::vector<std::string> argv) {
  if (argv.empty()) throw std::invalid_argument("process: empty argv");
  program_ = argv.front();
  // Everything the child touches is prepared before fork(): between fork and
  // exec only async-signal-safe calls are allowed.
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  int out = ::open(dir_.file("stdout").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = ::open(dir_.file("stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int exec_status[2];
  if (out < 0 || err < 0 || null < 0 || ::pipe2(exec_status, O_CLOEXEC) != 0) {
    throw system_error("process: preparing " + program_);
  }
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::dup2(null, STDIN_FILENO);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(err, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(args[0], args.data());
    int error = errno;
    [[maybe_unused]] auto ignored = ::write(exec_status[1], &error, sizeof error);
    ::_exit(127);
  }
  int fork_error = errno;
  ::close(out);
  ::close(err);
  ::close(null);
  ::close(exec_status[1]);
  if (pid_ < 0) {
    ::close(exec_status[0]);
    errno = fork_error;
    throw system_error("fork");
  }
  // Also set here, so that killing the group works even before the child ran.
  ::setpgid(pid_, pid_);
  // The pipe closes on a successful exec; otherwise it carries exec's errno.
  int exec_error = 0;
  auto n = ::read(exec_status[0], &exec_error, sizeof exec_error);
  ::close(exec_status[0]);
  if (n == sizeof exec_error) {
    kill_and_reap();
    errno = exec_error;
    throw system_error("cannot execute " + program_);
  }
}

process::~process() { kill_and_reap(); }

process::process(process&& other) noexcept
    : dir_(std::move(other.dir_)),
      program_(std::move(other.program_)),
      pid_(std::exchange(other.pid_, -1)),
      exit_code_(other.exit_code_) {}

process& process::operator=(process&& other) noexcept {
  if (this != &other) {
    kill_and_reap();
    dir_ = std::move(other.dir_);
    program_ = std::move(other.program_);
    pid_ = std::exchange(other.pid_, -1);
    exit_code_ = other.exit_code_;
  }
  return *this;
}

std::string process::stdout_text() const { return read_file(dir_.file("stdout")); }
std::string process::stderr_text() const { return read_file(dir_.file("stderr")); }

std::optional<std::string> process::wait_for_line(output stream, const line_predicate& matches,
                                                   milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    bool exited = !alive();  // checked before reading: output printed before exit is seen
    auto text = stream == output::out ? stdout_text() : stderr_text();
    std::string_view rest = text;
    for (auto end = rest.find('\n'); end != std::string_view::npos; end = rest.find('\n')) {
      auto line = rest.substr(0, end);
      rest.remove_prefix(end + 1);
      if (matches(line)) return std::string(line);
    }
    if (exited || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(poll_interval);
  }
}

std::optional<std::string> process::wait_for_line(output stream, std::string_view text, milliseconds timeout) {
  return wait_for_line(
      stream, [text](std::string_view line) { return line.find(text) != std::string_view::npos; }, timeout);
}

std::optional<nlohmann::json> process::wait_for_json_line(output stream,
                                                          const std::function<bool(const nlohmann::json&)>& matches,
                                                          milliseconds timeout) {
  std::optional<nlohmann::json> found;
  wait_for_line(
      stream,
      [&](std::string_view line) {
        auto parsed = json_lines(line);
        if (parsed.empty() || !matches(parsed.front())) return false;
        found = std::move(parsed.front());
        return true;
      },
      timeout);
  return found;
}

void process::signal(int signo) const {
  if (pid_ > 0 && !exit_code_) ::kill(pid_, signo);
}

bool process::alive() { return pid_ > 0 && !exit_code_ && !reap(WNOHANG); }

std::optional<int> process::wait_exit(milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (alive()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return exit_code_;
}

std::string process::describe() const {
  std::string text = program_ + " (pid " + std::to_string(pid_);
  text += exit_code_ ? ", exit code " + std::to_string(*exit_code_) + ")" : ", running)";
  text += "\n--- stdout ---\n" + tail(stdout_text(), 8192);
  text += "\n--- stderr ---\n" + tail(stderr_text(), 8192);
  return text;
}

bool process::reap(int options) {
  int status = 0;
  if (::waitpid(pid_, &status, options) != pid_) return false;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

void process::kill_and_reap() {
  if (pid_ <= 0 || exit_code_) return;
  ::kill(-pid_, SIGKILL);
  reap(0);
}

// --- starting the binaries ----------------------------------------------------

demo_upstream start_demo_upstream(std::vector<std::string> args) {
  std::vector<std::string> argv{binary_path("demo-upstream"), "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), args.begin(), args.end());
  process proc(std::move(argv));
  constexpr std::string_view prefix = "listening 127.0.0.1:";
  auto line = proc.wait_for_line(output::out, prefix, 10s);
  std::uint16_t port = line ? port_of_address(*line) : 0;
  if (port == 0) throw std::runtime_error("demo-upstream did not start:\n" + proc.describe());
  return demo_upstream{std::move(proc), port};
}

std::uint16_t bulwark_instance::port(const std::string& listener) const {
  auto found = listener_ports.find(listener);
  if (found == listener_ports.end()) throw std::runtime_error("bulwark has no listener " + listener);
  return found->second;
}

bulwark_instance start_bulwark(std::string_view yaml, std::vector<std::string> extra_args, milliseconds timeout) {
  temp_dir dir;
  auto config_path = dir.file("bulwark.yaml");
  write_file(config_path, yaml);
  std::vector<std::string> argv{binary_path("bulwark"), "run", "-c", config_path};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  process proc(std::move(argv));
  auto is_ready = [](const nlohmann::json& line) { return line.value("msg", "") == "ready"; };
  if (!proc.wait_for_json_line(output::err, is_ready, timeout)) {
    throw std::runtime_error("bulwark did not log \"ready\":\n" + proc.describe());
  }
  std::map<std::string, std::uint16_t> ports;
  std::uint16_t admin_port = 0;
  for (const auto& line : json_lines(proc.stderr_text())) {
    auto msg = line.value("msg", "");
    if (msg == "listening") ports[line.value("listener", "")] = port_of_address(line.value("address", ""));
    if (msg == "admin listening") admin_port = port_of_address(line.value("address", ""));
  }
  return bulwark_instance{std::move(dir), std::move(proc), std::move(ports), admin_port, std::move(config_path)};
}

// --- http_response --------------------------------------------------------------

std::string http_response::header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) return value;
  }
  return {};
}

int http_response::count(std::string_view name) const {
  return static_cast<int>(std::count_if(headers.begin(), headers.end(),
                                        [&](const auto& field) { return iequals(field.first, name); }));
}

// --- http_connection ------------------------------------------------------------

http_connection::http_connection(std::uint16_t port) {
  if (!connect(port)) throw std::runtime_error("connect to port " + std::to_string(port) + ": " + error_);
}

http_connection::~http_connection() { close(); }

http_connection::http_connection(http_connection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      buffer_(std::move(other.buffer_)),
      error_(std::move(other.error_)),
      eof_(other.eof_),
      peer_reset_(other.peer_reset_) {}

http_connection& http_connection::operator=(http_connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    buffer_ = std::move(other.buffer_);
    error_ = std::move(other.error_);
    eof_ = other.eof_;
    peer_reset_ = other.peer_reset_;
  }
  return *this;
}

bool http_connection::connect(std::uint16_t port, const std::string& host) {
  close();
  buffer_.clear();
  error_.clear();
  eof_ = peer_reset_ = false;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    error_ = "bad IPv4 address " + host;
    return false;
  }
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  // A blocking connect is fine: the tests only connect to this machine.
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    error_ = std::string("connect: ") + std::strerror(errno);
    close();
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
  return true;
}

void http_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool http_connection::send(std::string_view raw, milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  while (!raw.empty()) {
    if (fd_ < 0) {
      error_ = "send: not connected";
      return false;
    }
    auto n = ::send(fd_, raw.data(), raw.size(), MSG_NOSIGNAL);
    if (n > 0) {
      raw.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    pollfd writable{fd_, POLLOUT, 0};
    if (::poll(&writable, 1, milliseconds_until(deadline)) == 0 && clock::now() >= deadline) {
      error_ = "send: timed out, the peer does not read";
      return false;
    }
  }
  return true;
}

http_connection::fill_result http_connection::fill(clock::time_point deadline) {
  if (eof_ || fd_ < 0) return fill_result::closed;
  for (;;) {
    std::array<char, 65536> chunk;
    auto n = ::recv(fd_, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      buffer_.append(chunk.data(), static_cast<std::size_t>(n));
      return fill_result::data;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      peer_reset_ = n < 0 && errno == ECONNRESET;
      if (n < 0 && !peer_reset_) error_ = std::string("recv: ") + std::strerror(errno);
      eof_ = true;
      return fill_result::closed;
    }
    pollfd readable{fd_, POLLIN, 0};
    if (::poll(&readable, 1, milliseconds_until(deadline)) == 0 && clock::now() >= deadline) {
      return fill_result::timeout;
    }
  }
}

bool http_connection::readable(milliseconds timeout) {
  return !buffer_.empty() || fill(clock::now() + timeout) == fill_result::data;
}

bool http_connection::closed_by_peer(milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  for (;;) {
    switch (fill(deadline)) {
      case fill_result::data: continue;
      case fill_result::closed: return true;
      case fill_result::timeout: return false;
    }
  }
}

bool http_connection::fail(std::string message) {
  error_ = std::move(message);
  return false;
}

std::optional<http_response> http_connection::read_response(milliseconds timeout, bool head_request) {
  return read_response(read_options{.timeout = timeout, .head_request = head_request});
}

std::optional<http_response> http_connection::read_response(const read_options& options) {
  auto deadline = clock::now() + options.timeout;
  http_response response;
  for (;;) {
    if (!parse_head(response, deadline)) return std::nullopt;
    bool interim = response.status >= 100 && response.status < 200;
    if (!interim || options.return_interim || response.status == 101) break;
    response.interim.push_back(response.status);
    response.headers.clear();
  }
  auto status = response.status;
  if (options.head_request || status < 200 || status == 204 || status == 304) return response;

  auto transfer_encoding = response.header("Transfer-Encoding");
  if (!transfer_encoding.empty()) {
    auto last_coding = trim_ows(std::string_view(transfer_encoding).substr(transfer_encoding.rfind(',') + 1));
    response.chunked = iequals(last_coding, "chunked");
    bool ok = response.chunked ? read_chunked_body(response, options.keep_body, deadline)
                               : read_until_close(response, options.keep_body, deadline);
    return ok ? std::optional(std::move(response)) : std::nullopt;
  }
  if (response.has("Content-Length")) {
    std::optional<std::uint64_t> length;
    for (const auto& [name, value] : response.headers) {
      if (!iequals(name, "Content-Length")) continue;
      std::uint64_t parsed = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
      if (ec != std::errc{} || end != value.data() + value.size() || (length && *length != parsed)) {
        fail("invalid or conflicting Content-Length: " + value);
        return std::nullopt;
      }
      length = parsed;
    }
    if (!read_fixed_body(response, *length, options.keep_body, deadline)) return std::nullopt;
    return response;
  }
  if (!read_until_close(response, options.keep_body, deadline)) return std::nullopt;
  return response;
}

std::optional<std::string> http_connection::read_line(clock::time_point deadline) {
  for (;;) {
    auto end = buffer_.find("\r\n");
    if (end != std::string::npos) {
      auto line = buffer_.substr(0, end);
      buffer_.erase(0, end + 2);
      return line;
    }
    if (buffer_.size() > max_line_bytes) {
      fail("line longer than 64 KiB");
      return std::nullopt;
    }
    auto filled = fill(deadline);
    if (filled != fill_result::data) {
      fail(filled == fill_result::closed ? "connection closed in the middle of a line" : "timed out reading a line");
      return std::nullopt;
    }
  }
}

bool http_connection::parse_head(http_response& response, clock::time_point deadline) {
  while (buffer_.find("\r\n\r\n") == std::string::npos) {
    if (buffer_.size() > max_head_bytes) return fail("response head longer than 1 MiB");
    switch (fill(deadline)) {
      case fill_result::data: break;
      case fill_result::closed:
        return fail(buffer_.empty() ? "connection closed before a response" : "connection closed in the head");
      case fill_result::timeout: return fail("timed out waiting for the response head");
    }
  }
  auto status_line = *read_line(deadline);
  if (!parse_status_line(status_line, response)) return fail("bad status line: " + status_line);
  for (auto line = *read_line(deadline); !line.empty(); line = *read_line(deadline)) {
    if (line.front() == ' ' || line.front() == '\t') return fail("obs-fold in response: " + line);
    if (line.find_first_of("\r\n") != std::string::npos) return fail("bare CR or LF in the head: " + line);
    auto field = parse_field(line);
    if (!field) return fail("bad header line: " + line);
    response.headers.push_back(std::move(*field));
  }
  return true;
}

bool http_connection::read_fixed_body(http_response& response, std::uint64_t length, bool keep,
                                      clock::time_point deadline) {
  while (length > 0) {
    if (buffer_.empty()) {
      switch (fill(deadline)) {
        case fill_result::data: break;
        case fill_result::closed: return fail("connection closed in the body");
        case fill_result::timeout: return fail("timed out reading the body");
      }
    }
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(length, buffer_.size()));
    if (keep) response.body.append(buffer_, 0, n);
    response.body_size += n;
    buffer_.erase(0, n);
    length -= n;
  }
  return true;
}

bool http_connection::read_chunked_body(http_response& response, bool keep, clock::time_point deadline) {
  for (;;) {
    auto size_line = read_line(deadline);
    if (!size_line) return false;
    std::uint64_t size = 0;
    auto [end, ec] = std::from_chars(size_line->data(), size_line->data() + size_line->size(), size, 16);
    std::string_view rest(end, static_cast<std::size_t>(size_line->data() + size_line->size() - end));
    rest = trim_ows(rest);
    if (ec != std::errc{} || (!rest.empty() && rest.front() != ';')) return fail("bad chunk size: " + *size_line);
    if (size == 0) break;
    ++response.chunk_count;
    if (!read_fixed_body(response, size, keep, deadline)) return false;
    auto crlf = read_line(deadline);
    if (!crlf) return false;
    if (!crlf->empty()) return fail("chunk data longer than its size");
  }
  for (;;) {
    auto line = read_line(deadline);
    if (!line) return false;
    if (line->empty()) return true;
    auto field = parse_field(*line);
    if (!field) return fail("bad trailer line: " + *line);
    response.trailers.push_back(std::move(*field));
  }
}

bool http_connection::read_until_close(http_response& response, bool keep, clock::time_point deadline) {
  for (;;) {
    if (keep) response.body += buffer_;
    response.body_size += buffer_.size();
    buffer_.clear();
    switch (fill(deadline)) {
      case fill_result::data: break;
      case fill_result::closed: return true;
      case fill_result::timeout: return fail("timed out reading a body delimited by the close");
    }
  }
}

// --- one-shot helpers -------------------------------------------------------------

std::string format_request(std::string_view method, std::string_view target, std::uint16_t port,
                           const header_list& headers, std::string_view body) {
  std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  bool has_host = std::any_of(headers.begin(), headers.end(), [](const auto& h) { return iequals(h.first, "Host"); });
  if (!has_host) request += "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (!body.empty()) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;
  return request;
}

std::optional<http_response> http_get(std::uint16_t port, std::string_view target, const header_list& extra_headers,
                                      milliseconds timeout) {
  http_connection connection;
  if (!connection.connect(port)) return std::nullopt;
  if (!connection.send(format_request("GET", target, port, extra_headers), timeout)) return std::nullopt;
  return connection.read_response(timeout);
}

}  // namespace bulwark::test
