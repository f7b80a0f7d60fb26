#include "observe/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string_view>
#include <system_error>

#include "observe/json.h"
#include "observe/log.h"

namespace bulwark::observe {
namespace {

// --- formatting ------------------------------------------------------------------------

// Most values (ids, addresses, plain paths) need no escaping: one pass to
// check, one copy, instead of escaping byte by byte.
// Branch-free over the whole text, so that the compiler vectorizes it.
bool needs_escaping(std::string_view text) {
  bool found = false;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    found |= (byte < 0x20) | (byte >= 0x7F) | (byte == '"') | (byte == '\\');
  }
  return found;
}

// Writes a line into room made for the longest the record can give, so each
// piece is a plain copy, with no capacity check or call per piece: a line
// has some sixty pieces, and every request writes one.
class line_writer {
 public:
  // Escaping turns one byte into at most six ("\u00XX", or "\ufffd" for
  // an invalid one).
  static constexpr std::size_t max_escaped_growth = 6;

  line_writer(std::string& out, std::size_t most) : out_(out), start_(out.size()) {
    out_.resize(start_ + most);
    cursor_ = out_.data() + start_;
  }
  ~line_writer() { out_.resize(static_cast<std::size_t>(cursor_ - out_.data())); }
  line_writer(const line_writer&) = delete;
  line_writer& operator=(const line_writer&) = delete;

  void raw(std::string_view text) {
    std::memcpy(cursor_, text.data(), text.size());
    cursor_ += text.size();
  }
  // A literal: its size is known here, so the copy is a few moves, not a call.
  template <std::size_t N>
  void raw(const char (&text)[N]) {
    std::memcpy(cursor_, text, N - 1);
    cursor_ += N - 1;
  }
  void raw(char c) { *cursor_++ = c; }

  void string(std::string_view text) {
    raw('"');
    if (needs_escaping(text)) {
      thread_local std::string escaped;
      escaped.clear();
      append_json_escaped(escaped, text);
      raw(escaped);
    } else {
      raw(text);
    }
    raw('"');
  }

  void digits(uint64_t value, int min_width = 1) {
    char text[20];
    const auto length = static_cast<int>(std::to_chars(text, text + 20, value).ptr - text);
    for (int pad = length; pad < min_width; ++pad) raw('0');
    raw({text, static_cast<std::size_t>(length)});
  }

 private:
  std::string& out_;
  std::size_t start_;
  char* cursor_ = nullptr;
};

// `key` is the literal `,"name":` of a field.
template <std::size_t N>
void put_string(line_writer& out, const char (&key)[N], std::string_view value) {
  out.raw(key);
  out.string(value);
}

template <std::size_t N>
void put_nullable(line_writer& out, const char (&key)[N], const std::optional<std::string>& value) {
  out.raw(key);
  if (value) {
    out.string(*value);
  } else {
    out.raw("null");
  }
}

template <std::size_t N>
void put_number(line_writer& out, const char (&key)[N], uint64_t value) {
  out.raw(key);
  out.digits(value);
}

// Milliseconds with three decimals (microseconds), computed in integers so the
// text is exact and independent of the locale. Negative durations read as 0.
template <std::size_t N>
void put_millis(line_writer& out, const char (&key)[N], std::optional<std::chrono::nanoseconds> value) {
  out.raw(key);
  if (!value) {
    out.raw("null");
    return;
  }
  const auto micros = static_cast<uint64_t>(std::max<int64_t>(0, value->count() / 1000));
  out.digits(micros / 1000);
  out.raw('.');
  out.digits(micros % 1000, 3);
}

std::string_view name_of(error_source source) {
  switch (source) {
    case error_source::client:
      return "client";
    case error_source::upstream:
      return "upstream";
    case error_source::gateway:
      return "gateway";
  }
  return "gateway";
}

// `2026-11-21T22:42:45`: the part of a timestamp down to the second.
std::string date_and_time(std::chrono::sys_seconds when) {
  using namespace std::chrono;
  const auto day = floor<days>(when);
  const year_month_day date{day};
  const hh_mm_ss time{when - day};
  std::string text;
  {
    line_writer out(text, 32);  // fits the text when it goes out of scope
    out.digits(static_cast<uint64_t>(std::max(0, int(date.year()))), 4);
    out.raw('-');
    out.digits(unsigned(date.month()), 2);
    out.raw('-');
    out.digits(unsigned(date.day()), 2);
    out.raw('T');
    out.digits(static_cast<uint64_t>(time.hours().count()), 2);
    out.raw(':');
    out.digits(static_cast<uint64_t>(time.minutes().count()), 2);
    out.raw(':');
    out.digits(static_cast<uint64_t>(time.seconds().count()), 2);
  }
  return text;
}

// The date and time change once a second, so each thread keeps the text of
// the last second it wrote.
void put_rfc3339_millis(line_writer& out, std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  const auto millis = floor<milliseconds>(when);
  const auto second = floor<seconds>(millis);
  thread_local sys_seconds cached_second = sys_seconds::min();
  thread_local std::string cached_text;
  if (second != cached_second) {
    cached_text = date_and_time(second);
    cached_second = second;
  }
  out.raw(std::string_view(cached_text));
  out.raw('.');
  out.digits(static_cast<uint64_t>((millis - second).count()), 3);
  out.raw('Z');
}

std::size_t length_of(const std::optional<std::string>& value) { return value ? value->size() : 0; }

// The longest line `r` can give: its strings all escaped at the worst, plus
// the keys, numbers and punctuation (under 512 bytes).
std::size_t longest_line(const access_record& r) {
  const std::size_t strings = r.request_id.size() + r.client_ip.size() + r.method.size() +
                              r.path.size() + length_of(r.route) + length_of(r.upstream) +
                              length_of(r.endpoint) + length_of(r.ratelimit) +
                              length_of(r.cache) + length_of(r.auth) + 8;  // error_source
  return 512 + line_writer::max_escaped_growth * strings;
}

void append_access_line(std::string& line, const access_record& r) {
  line_writer out(line, longest_line(r));
  out.raw("{\"ts\":\"");
  put_rfc3339_millis(out, r.finished);
  out.raw('"');
  put_string(out, ",\"request_id\":", r.request_id);
  put_string(out, ",\"client_ip\":", r.client_ip);
  put_string(out, ",\"method\":", r.method);
  put_string(out, ",\"path\":", r.path);
  put_nullable(out, ",\"route\":", r.route);
  put_number(out, ",\"status\":", r.status);
  put_number(out, ",\"bytes_in\":", r.bytes_in);
  put_number(out, ",\"bytes_out\":", r.bytes_out);
  put_millis(out, ",\"duration_ms\":", r.duration);
  put_nullable(out, ",\"upstream\":", r.upstream);
  put_nullable(out, ",\"endpoint\":", r.endpoint);
  put_millis(out, ",\"upstream_ms\":", r.upstream_time);
  if (r.attempts) {
    put_number(out, ",\"attempts\":", *r.attempts);
  } else {
    out.raw(",\"attempts\":null");
  }
  if (r.error) {
    put_string(out, ",\"error_source\":", name_of(*r.error));
  } else {
    out.raw(",\"error_source\":null");
  }
  put_nullable(out, ",\"ratelimit\":", r.ratelimit);
  put_nullable(out, ",\"cache\":", r.cache);
  put_nullable(out, ",\"auth\":", r.auth);
  out.raw("}\n");
}

int open_for_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

std::string describe_errno(int code) {
  return std::error_code(code, std::system_category()).message();
}

}  // namespace

std::string format_rfc3339_millis(std::chrono::system_clock::time_point when) {
  std::string out;
  {
    line_writer writer(out, 32);  // fits the text when it goes out of scope
    put_rfc3339_millis(writer, when);
  }
  return out;
}

std::string format_access_line(const access_record& record) {
  std::string line;
  append_access_line(line, record);
  return line;
}

// --- the ring --------------------------------------------------------------------------

// Single-producer single-consumer ring of bytes. Positions only grow (a 64-bit
// count of bytes never wraps in practice); the offset in the buffer is the
// position modulo the capacity, a power of two. The producer publishes whole
// lines with a release store of tail_; the consumer frees space with a release
// store of head_ after writing, so the producer never overwrites unwritten bytes.
class access_log::ring {
 public:
  enum class push_result { stored, stored_past_half, full };

  explicit ring(std::size_t capacity)
      : capacity_(std::bit_ceil(std::max<std::size_t>(capacity, 64))),
        buffer_(new char[capacity_]) {}

  // --- producer side ---
  std::string& scratch() { return scratch_; }

  push_result push(std::string_view line) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    // cached_head_ trails the real head, so this test is conservative; the
    // consumer's cache line is read only when the ring looks full.
    if (capacity_ - (tail - cached_head_) < line.size()) {
      cached_head_ = head_.load(std::memory_order_acquire);
      if (capacity_ - (tail - cached_head_) < line.size()) return push_result::full;
    }
    const std::size_t offset = tail & (capacity_ - 1);
    const std::size_t first = std::min(line.size(), capacity_ - offset);
    std::memcpy(buffer_.get() + offset, line.data(), first);
    std::memcpy(buffer_.get(), line.data() + first, line.size() - first);
    tail_.store(tail + line.size(), std::memory_order_release);
    const uint64_t half = capacity_ / 2;
    const bool crossed = tail - cached_head_ < half && tail + line.size() - cached_head_ >= half;
    return crossed ? push_result::stored_past_half : push_result::stored;
  }

  // Written only by the producer, so a plain load and store suffice.
  void count_drop() {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  // --- consumer side ---
  uint64_t head() const { return head_.load(std::memory_order_relaxed); }
  uint64_t committed() const { return tail_.load(std::memory_order_acquire); }
  void release(uint64_t position) { head_.store(position, std::memory_order_release); }

  // The bytes [begin, end) as at most two pieces of the buffer.
  int segments(uint64_t begin, uint64_t end, iovec (&pieces)[2]) const {
    const std::size_t offset = begin & (capacity_ - 1);
    const std::size_t size = end - begin;
    const std::size_t first = std::min(size, capacity_ - offset);
    pieces[0] = {buffer_.get() + offset, first};
    pieces[1] = {buffer_.get(), size - first};
    return first == size ? 1 : 2;
  }

  // By memchr, line to line: a byte-by-byte count cost more than formatting
  // a field.
  uint64_t count_lines(uint64_t begin, uint64_t end) const {
    iovec pieces[2];
    const int n = segments(begin, end, pieces);
    uint64_t lines = 0;
    for (int i = 0; i < n; ++i) {
      const char* at = static_cast<const char*>(pieces[i].iov_base);
      const char* const stop = at + pieces[i].iov_len;
      while ((at = static_cast<const char*>(std::memchr(at, '\n', static_cast<std::size_t>(stop - at))))) {
        ++lines;
        ++at;
      }
    }
    return lines;
  }

 private:
  static constexpr std::size_t line_size = 64;  // keeps the two sides off each other's cache line

  const std::size_t capacity_;
  const std::unique_ptr<char[]> buffer_;
  alignas(line_size) std::atomic<uint64_t> tail_{0};
  uint64_t cached_head_ = 0;
  std::atomic<uint64_t> dropped_{0};
  std::string scratch_;  // the line being formatted, reused to avoid an allocation per line
  alignas(line_size) std::atomic<uint64_t> head_{0};
};

// --- access_log ------------------------------------------------------------------------

access_log::access_log(options settings, std::size_t workers) : settings_(std::move(settings)) {
  if (settings_.to == destination::off) return;
  if (settings_.to == destination::file) {
    fd_ = open_for_append(settings_.path);
    if (fd_ < 0) {
      throw std::system_error(errno, std::system_category(),
                              "cannot open the access log " + settings_.path);
    }
  } else {
    fd_ = STDOUT_FILENO;
  }
  for (std::size_t i = 0; i < std::max<std::size_t>(workers, 1); ++i)
    rings_.push_back(std::make_unique<ring>(settings_.ring_bytes));
  // The writer starts with every signal blocked, so that SIGUSR1, SIGHUP and
  // SIGTERM reach the threads that handle them, and a closed stdout pipe
  // fails a write with EPIPE instead of killing the process with SIGPIPE.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  writer_ = std::thread([this] { run_writer(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
}

access_log::~access_log() {
  stop();
}

void access_log::write(std::size_t worker, const access_record& record) {
  if (!enabled()) return;
  assert(worker < rings_.size());
  if (worker >= rings_.size()) {  // a caller's bug: count the line rather than lose it silently
    lost_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ring& r = *rings_[worker];
  if (stopped_.load(std::memory_order_relaxed)) {
    r.count_drop();
    return;
  }
  std::string& line = r.scratch();
  line.clear();
  append_access_line(line, record);
  switch (r.push(line)) {
    case ring::push_result::stored:
      break;
    case ring::push_result::stored_past_half:
      wake_writer();
      break;
    case ring::push_result::full:
      r.count_drop();
      break;
  }
}

// Called by workers: no lock, so a wake-up that lands just before the writer
// starts waiting is missed; the writer then wakes at its next interval anyway.
void access_log::wake_writer() {
  wake_.store(true, std::memory_order_release);
  wake_cv_.notify_one();
}

void access_log::reopen() {
  if (!enabled()) return;
  reopen_requested_.store(true, std::memory_order_release);
  {
    std::lock_guard lock(mutex_);
    wake_.store(true, std::memory_order_release);
  }
  wake_cv_.notify_one();
}

void access_log::flush() {
  if (!enabled()) return;
  std::unique_lock lock(mutex_);
  if (stopping_) return;  // stop() writes everything, and the writer may be gone
  const uint64_t generation = ++flush_requested_;
  wake_cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return flush_completed_ >= generation; });
}

void access_log::stop() {
  if (!enabled()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    stopped_.store(true, std::memory_order_relaxed);
  }
  wake_cv_.notify_one();
  if (writer_.joinable()) writer_.join();
  if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
  fd_ = -1;
}

uint64_t access_log::dropped() const {
  uint64_t total = lost_.load(std::memory_order_relaxed);
  for (const auto& r : rings_) total += r->dropped();
  return total;
}

// Each pass reads the flush generation and the stop flag first, so that when
// it reports the generation done, every line queued before that flush() (and
// a reopen() asked before it) has been handled by the pass.
void access_log::run_writer() {
  std::unique_lock lock(mutex_);
  for (;;) {
    const uint64_t generation = flush_requested_;
    const bool last = stopping_;
    lock.unlock();
    // Cleared before draining: a ring passing half full meanwhile sets it
    // again, and the next wait returns at once.
    wake_.exchange(false, std::memory_order_acquire);
    if (reopen_requested_.exchange(false, std::memory_order_acquire)) reopen_now();
    drain_all();
    lock.lock();
    flush_completed_ = generation;
    flushed_cv_.notify_all();
    if (last) return;
    wake_cv_.wait_for(lock, settings_.flush_interval, [&] {
      return stopping_ || flush_requested_ != generation || wake_.load(std::memory_order_acquire);
    });
  }
}

void access_log::drain_all() {
  for (auto& r : rings_) drain(*r);
}

void access_log::drain(ring& r) {
  uint64_t begin = r.head();
  const uint64_t end = r.committed();
  while (begin < end) {
    iovec pieces[2];
    const int count = r.segments(begin, end, pieces);
    const ssize_t n = ::writev(fd_, pieces, count);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // A non-blocking stdout that is full: wait here, never in a worker.
      pollfd ready{fd_, POLLOUT, 0};
      ::poll(&ready, 1, static_cast<int>(settings_.flush_interval.count()));
      continue;
    }
    if (n <= 0) {
      // The destination fails (disk full, closed pipe): these lines are lost.
      // Said once per run of failures, not once per pass.
      if (!failing_) {
        log(log_level::error, "access log write failed",
            {{"path", settings_.to == destination::file ? settings_.path : "stdout"},
             {"error", describe_errno(n < 0 ? errno : EIO)}});
      }
      failing_ = true;
      lost_.fetch_add(r.count_lines(begin, end), std::memory_order_relaxed);
      begin = end;
    } else {
      failing_ = false;
      const uint64_t stop_at = begin + static_cast<uint64_t>(n);
      written_.fetch_add(r.count_lines(begin, stop_at), std::memory_order_relaxed);
      begin = stop_at;
    }
    r.release(begin);
  }
}

// The new file is opened before the old one is closed: if it cannot be opened,
// lines keep going to the old one (and the failure is reported), none is lost.
void access_log::reopen_now() {
  if (settings_.to != destination::file) return;
  const int fd = open_for_append(settings_.path);
  if (fd < 0) {
    log(log_level::error, "cannot reopen the access log",
        {{"path", settings_.path}, {"error", describe_errno(errno)}});
    return;
  }
  ::close(fd_);
  fd_ = fd;
}

}  // namespace bulwark::observe
