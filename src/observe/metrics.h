// The metrics registry: counters, gauges and histograms with labels, counted
// per thread and summed when scraped (DESIGN.md §8, Prometheus data model).
//
// Why per-thread slots: a request increments several counters; if the workers
// shared one atomic per counter, every increment would bounce that cache line
// between cores. Instead the registry is built for a fixed number of worker
// threads (plus one slot for the main thread, index `workers`, and one for a
// background thread, index `workers + 1`), and every
// series owns one slot per thread. The slots of one thread live together in a
// 4 KiB row, the rows of different threads never share a cache line.
//
// Invariant (single writer): slot `thread` of a series is written only by the
// thread that owns that index, so an increment is a relaxed load and a relaxed
// store, no locked instruction. Scrapes read the same atomics (relaxed) from
// another thread and sum them; a scrape may miss increments in flight, never
// tears a value. Two threads passing the same index would lose counts: each
// worker uses its own index, everything else (startup, reload, admin) uses
// `main_thread()`.
//
// Series are keyed by their label values and never removed or reset: a route
// that survives a config reload gets the same handle back from with(), so its
// counters keep counting. Registration and with() take the registry mutex and
// may throw std::invalid_argument on programming errors (bad names, wrong
// label count); they run at startup and on reload, never per request. The
// per-request operations (inc, add, observe) are noexcept and lock-free.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bulwark::observe {

class metrics_registry;

enum class metric_type { counter, gauge, histogram };

namespace detail {

// One thread's slots in one block. 512 slots = 4 KiB, a multiple of the
// 128-byte pair of lines the adjacent-line prefetcher pulls in together.
inline constexpr std::size_t slots_per_row = 512;
struct alignas(128) slot_row {
  std::array<std::atomic<std::uint64_t>, slots_per_row> slots;
};

// Where a series keeps its values: slots [first, first + width) of every row.
struct series_slots {
  slot_row* rows = nullptr;  // one row per thread
  std::uint32_t first = 0;
  std::uint32_t threads = 0;

  std::atomic<std::uint64_t>& at(std::size_t thread, std::size_t offset = 0) const noexcept {
    return rows[thread].slots[first + offset];
  }
  // Single-writer update: see the file comment.
  void add(std::size_t thread, std::size_t offset, std::uint64_t n) const noexcept {
    auto& slot = at(thread, offset);
    slot.store(slot.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t sum(std::size_t offset = 0) const noexcept;
  // The sum over threads of slots holding the bits of a double.
  double sum_of_doubles(std::size_t offset) const noexcept;
};

struct family_core;

}  // namespace detail

// A counter series (a family with all label values fixed). Cheap to copy; the
// proxy keeps one per static label set (listener, route, upstream).
class counter {
 public:
  void inc(std::size_t thread, std::uint64_t n = 1) const noexcept { slots_.add(thread, 0, n); }
  std::uint64_t value() const noexcept { return slots_.sum(); }

 private:
  friend class counter_family;
  friend class status_counter;
  explicit counter(detail::series_slots slots) : slots_(slots) {}
  detail::series_slots slots_;
};

// A gauge series that goes up and down. Each thread adds its own deltas, so a
// connection opened on one thread may be closed on another: per-thread values
// may go negative, their sum (the reported value) is right.
class gauge {
 public:
  void add(std::size_t thread, std::int64_t delta) const noexcept {
    // Two's complement: unsigned wrap-around makes the sum of signed deltas exact.
    slots_.add(thread, 0, static_cast<std::uint64_t>(delta));
  }
  // For a gauge only `thread` ever writes (a state sampled at scrape time by
  // the main thread): its value becomes `value`.
  void set(std::size_t thread, std::int64_t value) const noexcept {
    slots_.at(thread).store(static_cast<std::uint64_t>(value), std::memory_order_relaxed);
  }
  std::int64_t value() const noexcept { return static_cast<std::int64_t>(slots_.sum()); }

 private:
  friend class gauge_family;
  explicit gauge(detail::series_slots slots) : slots_(slots) {}
  detail::series_slots slots_;
};

// A histogram series. Slots hold per-bucket (not cumulative) counts, the last
// one being +Inf, then the sum of observations as the bits of a double. There is
// no separate count slot: _count is derived from the buckets at scrape time, so
// it always equals the +Inf bucket even while observations race the scrape.
class histogram {
 public:
  // `le` is inclusive: a value equal to a bound counts in that bound's bucket.
  // NaN is ignored: it would make _sum NaN for the life of the process.
  void observe(std::size_t thread, double value) const noexcept {
    if (std::isnan(value)) return;
    const auto bucket = static_cast<std::size_t>(
        std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin());
    slots_.add(thread, bucket, 1);
    auto& sum = slots_.at(thread, bounds_->size() + 1);
    const double updated = std::bit_cast<double>(sum.load(std::memory_order_relaxed)) + value;
    sum.store(std::bit_cast<std::uint64_t>(updated), std::memory_order_relaxed);
  }
  std::uint64_t count() const noexcept;
  double sum() const noexcept;

 private:
  friend class histogram_family;
  histogram(detail::series_slots slots, const std::vector<double>* bounds)
      : slots_(slots), bounds_(bounds) {}
  detail::series_slots slots_;
  const std::vector<double>* bounds_;  // owned by the family, which outlives handles
};

// Label values, in the order of the family's label names.
using label_values = std::vector<std::string_view>;

// Families: a name, help text and label names; with() finds or creates the
// series for some label values. These are thin references into the registry,
// valid as long as it is.
class counter_family {
 public:
  counter with(const label_values& values) const;
  const std::string& name() const;

 private:
  friend class metrics_registry;
  friend class status_counter;
  explicit counter_family(detail::family_core* core) : core_(core) {}
  detail::family_core* core_;
};

class gauge_family {
 public:
  gauge with(const label_values& values) const;

 private:
  friend class metrics_registry;
  explicit gauge_family(detail::family_core* core) : core_(core) {}
  detail::family_core* core_;
};

class histogram_family {
 public:
  histogram with(const label_values& values) const;

 private:
  friend class metrics_registry;
  explicit histogram_family(detail::family_core* core) : core_(core) {}
  detail::family_core* core_;
};

// A counter whose last label is an HTTP status code, known only per request.
// A table indexed by status 100..599 caches the series of each code once seen:
// the hot path is an array index, a pointer load and the slot update, with no
// hashing and no lock. 500 pointers (4 KiB) per route is small, and only codes
// that occur become series. The table is shared by all threads; an entry is
// written once (the first request with that code takes the registry mutex via
// with(); two racing threads store the same pointer). Codes outside 100..599,
// which only a misbehaving upstream sends, take that slow path every time.
class status_counter {
 public:
  // `leading` holds the values of every label but the last one.
  status_counter(counter_family family, const label_values& leading);

  void inc(std::size_t thread, int status) const;
  std::uint64_t value(int status) const;

 private:
  static constexpr int first_cached = 100;
  static constexpr int last_cached = 599;
  counter series(int status) const;

  counter_family family_;
  std::vector<std::string> leading_;
  std::unique_ptr<
      std::array<std::atomic<const detail::series_slots*>, last_cached - first_cached + 1>>
      cache_;
};

// What a scrape sees, detached from the live slots (also handy for tests and
// the admin status page).
struct series_snapshot {
  std::vector<std::string> label_values;
  std::int64_t value = 0;              // counter or gauge
  std::vector<std::uint64_t> buckets;  // histogram: per bucket, last is +Inf
  double sum = 0.0;                    // histogram
};

struct family_snapshot {
  std::string name;
  std::string help;
  metric_type type = metric_type::counter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;           // histogram upper bounds, +Inf implied
  std::vector<series_snapshot> series;  // sorted by label values
};

class metrics_registry {
 public:
  // `workers` worker threads use indexes 0..workers-1; main_thread() is `workers`.
  explicit metrics_registry(std::size_t workers);
  ~metrics_registry();
  metrics_registry(const metrics_registry&) = delete;
  metrics_registry& operator=(const metrics_registry&) = delete;

  std::size_t main_thread() const noexcept { return workers_; }
  // The slot of the one background thread that counts on its own (the
  // cluster thread, src/cluster).
  std::size_t background_thread() const noexcept { return workers_ + 1; }
  std::size_t threads() const noexcept { return workers_ + 2; }

  // Counter names must end in `_total`. A family without labels gets its one
  // series at once, so it is exposed (as 0) before anything happens.
  counter_family add_counter(std::string name, std::string help,
                             std::vector<std::string> label_names);
  gauge_family add_gauge(std::string name, std::string help, std::vector<std::string> label_names);
  // `bounds`: finite, strictly increasing upper bounds; +Inf is added.
  histogram_family add_histogram(std::string name, std::string help,
                                 std::vector<std::string> label_names, std::vector<double> bounds);

  // Families sorted by name, series by label values.
  std::vector<family_snapshot> snapshot() const;
  // The Prometheus text exposition format 0.0.4 (prometheus.h).
  std::string prometheus_text() const;

 private:
  friend struct detail::family_core;
  struct state;
  detail::family_core* add_family(std::string name, std::string help, metric_type type,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  std::size_t workers_;
  std::unique_ptr<state> state_;
};

}  // namespace bulwark::observe
