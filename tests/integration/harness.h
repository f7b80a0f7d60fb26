// The integration-test harness: real processes (bulwark, demo-upstream) on
// ports the OS picks, and a raw HTTP/1.1 client whose every wait has a deadline.
//
// Plain POSIX on purpose: the tests must not share an HTTP stack with the code
// under test, and the raw client sends exactly the bytes it is given, so tests
// can write malformed and smuggling requests byte by byte.
//
// Setup failures (a binary that does not start, a line that never comes) throw
// std::runtime_error carrying the captured output; GoogleTest reports that as
// the test's failure. Every wait has a deadline, and a `process` kills its
// whole process group when destroyed, so a failing test leaves nothing behind.
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bulwark::test {

using namespace std::chrono_literals;
using milliseconds = std::chrono::milliseconds;

// Path of a binary built next to the running test executable.
std::string binary_path(std::string_view name);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(temp_dir&& other) noexcept;
  temp_dir& operator=(temp_dir&& other) noexcept;
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  void remove();

  std::string path_;
};

void write_file(const std::string& path, std::string_view text);
std::string read_file(const std::string& path);

// The lines of `text` that are JSON objects (bulwark logs one per line);
// other lines are skipped.
std::vector<nlohmann::json> json_lines(std::string_view text);

enum class output { out, err };

// A child process in its own process group, its stdout and stderr captured in
// files. The child gets SIGKILL if the thread that started it dies
// (PR_SET_PDEATHSIG), so a killed test runner leaves no servers behind.
class process {
 public:
  // Throws std::runtime_error when the program cannot be executed.
  explicit process(std::vector<std::string> argv);
  ~process();
  process(process&& other) noexcept;
  process& operator=(process&& other) noexcept;
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  pid_t pid() const { return pid_; }
  std::string stdout_text() const;
  std::string stderr_text() const;

  // The first complete line of the stream that satisfies `matches` (or
  // contains `text`), polling until `timeout`; gives up early once the process
  // has exited without printing it. No std::regex here on purpose: with
  // -O2 -fsanitize=address GCC 12 warns (-Wmaybe-uninitialized, an error
  // here) inside libstdc++'s regex compiler.
  using line_predicate = std::function<bool(std::string_view line)>;
  std::optional<std::string> wait_for_line(output stream, const line_predicate& matches, milliseconds timeout);
  std::optional<std::string> wait_for_line(output stream, std::string_view text, milliseconds timeout);
  // The first JSON-object line (bulwark's log) that satisfies `matches`.
  std::optional<nlohmann::json> wait_for_json_line(output stream,
                                                   const std::function<bool(const nlohmann::json&)>& matches,
                                                   milliseconds timeout);

  void signal(int signo) const;
  bool alive();
  // The exit code once the process has ended, or 128 + N when signal N killed
  // it (as a shell reports it); nullopt if it is still running at `timeout`.
  std::optional<int> wait_exit(milliseconds timeout);

  // Output of both streams, for failure messages.
  std::string describe() const;

 private:
  bool reap(int options);
  void kill_and_reap();

  temp_dir dir_;
  std::string program_;
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

struct demo_upstream {
  process proc;
  std::uint16_t port;
};

// Starts build-dir/bin/demo-upstream on 127.0.0.1:0 with `args` appended
// (e.g. {"--name", "a", "--threads", "2"}) and reads back its port.
demo_upstream start_demo_upstream(std::vector<std::string> args = {});

struct bulwark_instance {
  temp_dir dir;  // declared first: destroyed after the process is gone
  process proc;
  std::map<std::string, std::uint16_t> listener_ports;
  std::uint16_t admin_port = 0;  // 0 when the config has no admin server
  std::string config_path;

  std::uint16_t port(const std::string& listener) const;
};

// Writes `yaml` to a temporary file, runs `bulwark run -c FILE`, waits (up to
// `timeout`) for its `"msg":"ready"` log line, then reads the bound ports from
// its `"msg":"listening"` / `"msg":"admin listening"` lines.
bulwark_instance start_bulwark(std::string_view yaml, std::vector<std::string> extra_args = {},
                               milliseconds timeout = 10s);

// --- raw HTTP/1.1 client ------------------------------------------------------

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_response {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  header_list headers;
  header_list trailers;
  std::string body;             // empty when read with keep_body = false
  std::uint64_t body_size = 0;  // counted even when the body is not kept
  bool chunked = false;
  std::size_t chunk_count = 0;  // data chunks, the last (empty) one excluded
  std::vector<int> interim;     // 1xx statuses skipped before this response

  // Value of the first header `name` (case-insensitive), "" if absent.
  std::string header(std::string_view name) const;
  int count(std::string_view name) const;
  bool has(std::string_view name) const { return count(name) > 0; }
};

struct read_options {
  milliseconds timeout = 10s;  // for the whole response
  bool head_request = false;   // the response to HEAD has no body
  bool return_interim = false; // return a 1xx as a response instead of skipping it
  bool keep_body = true;       // false: only count body bytes (gigabyte downloads)
};

class http_connection {
 public:
  http_connection() = default;
  // Connects or throws std::runtime_error.
  explicit http_connection(std::uint16_t port);
  ~http_connection();
  http_connection(http_connection&& other) noexcept;
  http_connection& operator=(http_connection&& other) noexcept;
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  bool connect(std::uint16_t port, const std::string& host = "127.0.0.1");
  bool is_open() const { return fd_ >= 0; }
  void close();

  // Sends exactly `raw`, all of it unless the peer stops reading for
  // `timeout` or the connection fails. TCP_NODELAY is set, so each call's
  // bytes leave at once (byte-by-byte sends arrive as separate segments).
  bool send(std::string_view raw, milliseconds timeout = 10s);

  // The next response, parsed per RFC 9112 §6.3: no body for HEAD, 1xx, 204
  // and 304; chunked (with trailers) when Transfer-Encoding ends in chunked;
  // else Content-Length; else until the peer closes. Bytes after the response
  // stay buffered for the next call (pipelining). nullopt on timeout, on a
  // malformed response or when the connection ends first: see error().
  std::optional<http_response> read_response(const read_options& options);
  std::optional<http_response> read_response(milliseconds timeout = 10s, bool head_request = false);

  // Waits until the peer closes (FIN or RST) within `timeout`; bytes that
  // arrive meanwhile are kept in buffered(). peer_reset() tells RST from FIN.
  bool closed_by_peer(milliseconds timeout = 5s);
  bool peer_reset() const { return peer_reset_; }

  // Whether bytes are buffered or arrive within `timeout`.
  bool readable(milliseconds timeout = 0ms);

  const std::string& buffered() const { return buffer_; }
  const std::string& error() const { return error_; }

 private:
  using clock = std::chrono::steady_clock;
  enum class fill_result { data, closed, timeout };

  fill_result fill(clock::time_point deadline);
  bool parse_head(http_response& response, clock::time_point deadline);
  bool read_fixed_body(http_response& response, std::uint64_t length, bool keep, clock::time_point deadline);
  bool read_chunked_body(http_response& response, bool keep, clock::time_point deadline);
  bool read_until_close(http_response& response, bool keep, clock::time_point deadline);
  std::optional<std::string> read_line(clock::time_point deadline);
  bool fail(std::string message);  // records error() and returns false

  int fd_ = -1;
  std::string buffer_;
  std::string error_;
  bool eof_ = false;
  bool peer_reset_ = false;
};

// "METHOD TARGET HTTP/1.1" with Host, the given headers and, when `body` is
// not empty, a Content-Length.
std::string format_request(std::string_view method, std::string_view target, std::uint16_t port,
                           const header_list& headers = {}, std::string_view body = {});

// One request on a fresh connection.
std::optional<http_response> http_get(std::uint16_t port, std::string_view target,
                                      const header_list& extra_headers = {}, milliseconds timeout = 10s);

}  // namespace bulwark::test
