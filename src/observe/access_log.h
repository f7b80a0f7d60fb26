// The access log (DESIGN.md §8): one JSON line per request, written off the
// worker threads.
//
// Each worker formats its line itself and copies it into its own bounded ring
// of bytes (single producer, single consumer); one writer thread drains every
// ring straight to stdout or an O_APPEND file, with one writev(2) per ring per
// pass, at least every flush interval (100 ms by default).
// Why this shape:
// - A worker never blocks: no lock, no syscall on the common path. When its
//   ring is full (the destination stalls, a pipe nobody reads) the line is
//   dropped and counted; requests are never slowed by the log.
// - Formatting on the worker spreads the work over every core and turns the
//   record, whose strings belong to the request, into one self-contained line;
//   the single writer thread only moves bytes, so it is never the bottleneck.
// - Rings of bytes, not of strings: the writer writes from the ring memory
//   itself (no allocation or copy per line on its side), and the bound is in
//   bytes, i.e. in memory.
// - Lines are committed whole, so any range the writer sees ends on a line
//   boundary and a line is never split between the old and the new file of a
//   reopen() (logrotate's SIGUSR1): each byte is written exactly once.
// Lines of different workers may interleave out of time order (as nginx's do).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bulwark::observe {

// Whose fault an error was (STYLE.md: errors carry their source).
enum class error_source { client, upstream, gateway };

// What one line says. Optional fields are written as null when unset.
struct access_record {
  std::chrono::system_clock::time_point finished;  // `ts`: when the response finished
  std::string request_id;
  std::string client_ip;
  std::string method;
  std::string path;                  // the request target as received
  std::optional<std::string> route;  // null: no route matched
  uint16_t status = 0;
  uint64_t bytes_in = 0;   // request body bytes read
  uint64_t bytes_out = 0;  // response body bytes sent
  // `duration_ms`: from the first byte of the request to the last of the response.
  std::chrono::nanoseconds duration{0};
  std::optional<std::string> upstream;                    // null: no upstream was contacted
  std::optional<std::string> endpoint;                    // host:port of the last try
  std::optional<std::chrono::nanoseconds> upstream_time;  // `upstream_ms`, every try included
  std::optional<uint32_t> attempts;                       // tries made, the first included
  std::optional<error_source> error;                      // null: no error
  // Filled by later phases; a short word or name each (e.g. cache "hit").
  std::optional<std::string> ratelimit;
  std::optional<std::string> cache;
  std::optional<std::string> auth;
};

// The record as one JSON object and a final "\n"; the only raw newline in it
// is the last byte. Durations are milliseconds with microsecond precision.
std::string format_access_line(const access_record& record);

// `2026-11-21T22:42:45.123Z`: RFC 3339, UTC, milliseconds (truncated).
std::string format_rfc3339_millis(std::chrono::system_clock::time_point when);

class access_log {
 public:
  enum class destination { stdout_stream, file, off };

  struct options {
    destination to = destination::stdout_stream;
    std::string path;                               // the file, when `to` is file
    // Per worker; rounded up to a power of two. Small enough to stay in the
    // CPU's cache: with 1 MiB, the lines streaming through evicted the
    // network stack's data and a logging worker served 12% fewer requests
    // (bench/proxy.sh LOGS=on, against the same bulwark without the log);
    // with 256 KiB, 2%. Still ~5 ms of lines at 45k requests/s, so a writer
    // thread that wakes late loses none (at 64 KiB some were dropped).
    std::size_t ring_bytes = 1 << 18;
    std::chrono::milliseconds flush_interval{100};  // a line waits at most about this long
  };

  // Opens the file (throws std::system_error when it cannot: a startup error)
  // and starts the writer thread, unless `to` is off. `workers` is the number
  // of producer slots: write() takes a slot index below it.
  access_log(options settings, std::size_t workers);
  ~access_log();
  access_log(const access_log&) = delete;
  access_log& operator=(const access_log&) = delete;

  bool enabled() const { return !rings_.empty(); }

  // Formats and queues one line; never blocks. Each `worker` slot must be used
  // by one thread at a time (the worker that owns it). A line that does not fit
  // in the slot's ring, or comes after stop(), is dropped and counted.
  void write(std::size_t worker, const access_record& record);

  // Asks the writer to reopen the file at its next pass (a no-op on stdout).
  // Lines queued before and after go exactly once to the old or the new file.
  // Not async-signal-safe: call it from the code that handles SIGUSR1.
  void reopen();

  // Blocks until every line queued before the call has been handed to the
  // OS (and a reopen() asked before it is done).
  void flush();

  // Writes everything queued and joins the writer. Call it once the workers
  // stopped writing: a line queued while stop() runs may be neither written
  // nor counted. Idempotent.
  void stop();

  // Lines handed to the OS.
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  // Lines lost: their ring was full, they came after stop(), or writing them failed.
  uint64_t dropped() const;

 private:
  class ring;

  void run_writer();
  void drain_all();
  void drain(ring& r);
  void reopen_now();
  void wake_writer();

  options settings_;
  int fd_ = -1;           // owned by the writer thread while it runs
  bool failing_ = false;  // the last write failed; writer thread only
  std::vector<std::unique_ptr<ring>> rings_;
  std::atomic<uint64_t> written_{0};  // lines whose final newline was written
  std::atomic<uint64_t> lost_{0};     // lines lost to write errors or a bad slot index
  std::atomic<bool> stopped_{false};  // write() refuses after stop() began
  std::atomic<bool> reopen_requested_{false};
  std::atomic<bool> wake_{false};  // a ring passed half full, or a request arrived

  std::mutex mutex_;  // guards the three fields below; never taken by workers
  std::condition_variable wake_cv_;
  std::condition_variable flushed_cv_;
  uint64_t flush_requested_ = 0;
  uint64_t flush_completed_ = 0;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace bulwark::observe
