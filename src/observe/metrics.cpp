// The registry's slow paths: registration, series lookup, slot allocation and
// snapshots. Everything here runs under the registry mutex; the per-request
// operations are inline in metrics.h and never come here (except status codes
// outside 100..599, see status_counter).
#include "observe/metrics.h"

#include <map>
#include <mutex>
#include <stdexcept>

#include "observe/prometheus.h"

namespace bulwark::observe {

namespace detail {

std::uint64_t series_slots::sum(std::size_t offset) const noexcept {
  std::uint64_t total = 0;
  for (std::size_t thread = 0; thread < threads; ++thread) {
    total += at(thread, offset).load(std::memory_order_relaxed);
  }
  return total;
}

double series_slots::sum_of_doubles(std::size_t offset) const noexcept {
  double total = 0.0;
  for (std::size_t thread = 0; thread < threads; ++thread) {
    total += std::bit_cast<double>(at(thread, offset).load(std::memory_order_relaxed));
  }
  return total;
}

struct family_core {
  metrics_registry::state* registry;
  std::string name;
  std::string help;
  metric_type type;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  // std::map: node addresses are stable (status_counter caches pointers to
  // the values) and iteration is sorted, as the exposition wants.
  std::map<std::vector<std::string>, series_slots> series;

  std::size_t width() const { return type == metric_type::histogram ? bounds.size() + 2 : 1; }
  const series_slots& find_or_add(const label_values& values);
  family_snapshot snapshot() const;
};

}  // namespace detail

struct metrics_registry::state {
  std::size_t threads;
  mutable std::mutex mutex;
  // Each block is one row per thread; a series takes the same slots of every row.
  std::vector<std::unique_ptr<detail::slot_row[]>> blocks;
  std::size_t used_in_last_block = detail::slots_per_row;  // "full" until the first block
  std::map<std::string, std::unique_ptr<detail::family_core>, std::less<>> families;

  // Caller holds `mutex`. A series never straddles two blocks, so a block's
  // tail may stay unused when a histogram does not fit in it.
  detail::series_slots allocate(std::size_t width) {
    if (used_in_last_block + width > detail::slots_per_row) {
      blocks.emplace_back(new detail::slot_row[threads]());
      used_in_last_block = 0;
    }
    detail::series_slots slots{blocks.back().get(), static_cast<std::uint32_t>(used_in_last_block),
                               static_cast<std::uint32_t>(threads)};
    used_in_last_block += width;
    return slots;
  }
};

namespace {

bool is_name_char(char c, bool first, bool colon_allowed) {
  const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  const bool digit = c >= '0' && c <= '9';
  return letter || (colon_allowed && c == ':') || (!first && digit);
}

// [a-zA-Z_:][a-zA-Z0-9_:]* for metric names, without ':' for label names.
bool is_valid_name(std::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_name_char(name[i], i == 0, colon_allowed)) return false;
  }
  return true;
}

void check_names(const std::string& name, metric_type type,
                 const std::vector<std::string>& label_names) {
  if (!is_valid_name(name, true)) throw std::invalid_argument("bad metric name: " + name);
  if (type == metric_type::counter && !name.ends_with("_total")) {
    throw std::invalid_argument("counter name must end in _total: " + name);
  }
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const auto& label = label_names[i];
    if (!is_valid_name(label, false) || label.starts_with("__")) {
      throw std::invalid_argument(name + ": bad label name: " + label);
    }
    if (type == metric_type::histogram && label == "le") {
      throw std::invalid_argument(name + ": a histogram cannot have a label named le");
    }
    if (std::find(label_names.begin(), label_names.begin() + i, label) != label_names.begin() + i) {
      throw std::invalid_argument(name + ": duplicate label name: " + label);
    }
  }
}

void check_bounds(const std::string& name, const std::vector<double>& bounds) {
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
      throw std::invalid_argument(name + ": bucket bounds must be finite and increasing");
    }
  }
  if (bounds.size() + 2 > detail::slots_per_row) {
    throw std::invalid_argument(name + ": too many buckets");
  }
}

}  // namespace

const detail::series_slots& detail::family_core::find_or_add(const label_values& values) {
  if (values.size() != label_names.size()) {
    throw std::invalid_argument(name + ": expected " + std::to_string(label_names.size()) +
                                " label values, got " + std::to_string(values.size()));
  }
  std::vector<std::string> key(values.begin(), values.end());
  std::lock_guard lock(registry->mutex);
  auto found = series.find(key);
  if (found == series.end()) {
    found = series.emplace(std::move(key), registry->allocate(width())).first;
  }
  return found->second;
}

family_snapshot detail::family_core::snapshot() const {
  family_snapshot out{name, help, type, label_names, bounds, {}};
  out.series.reserve(series.size());
  for (const auto& [values, slots] : series) {
    series_snapshot s{values, 0, {}, 0.0};
    if (type == metric_type::histogram) {
      for (std::size_t bucket = 0; bucket <= bounds.size(); ++bucket) {
        s.buckets.push_back(slots.sum(bucket));
      }
      s.sum = slots.sum_of_doubles(bounds.size() + 1);
    } else {
      s.value = static_cast<std::int64_t>(slots.sum());
    }
    out.series.push_back(std::move(s));
  }
  return out;
}

std::uint64_t histogram::count() const noexcept {
  std::uint64_t total = 0;
  for (std::size_t bucket = 0; bucket <= bounds_->size(); ++bucket) total += slots_.sum(bucket);
  return total;
}

double histogram::sum() const noexcept {
  return slots_.sum_of_doubles(bounds_->size() + 1);
}

counter counter_family::with(const label_values& values) const {
  return counter(core_->find_or_add(values));
}

const std::string& counter_family::name() const {
  return core_->name;
}

gauge gauge_family::with(const label_values& values) const {
  return gauge(core_->find_or_add(values));
}

histogram histogram_family::with(const label_values& values) const {
  return histogram(core_->find_or_add(values), &core_->bounds);
}

status_counter::status_counter(counter_family family, const label_values& leading)
    : family_(family),
      leading_(leading.begin(), leading.end()),
      cache_(std::make_unique<std::array<std::atomic<const detail::series_slots*>,
                                         last_cached - first_cached + 1>>()) {
  if (leading_.size() + 1 != family_.core_->label_names.size()) {
    throw std::invalid_argument(family_.name() + ": status_counter needs all labels but the last");
  }
}

counter status_counter::series(int status) const {
  const bool cacheable = status >= first_cached && status <= last_cached;
  if (cacheable) {
    // Acquire pairs with the release below: the series' slots are initialised
    // (under the registry mutex) before another thread sees the pointer.
    if (const auto* slots = (*cache_)[status - first_cached].load(std::memory_order_acquire)) {
      return counter(*slots);
    }
  }
  const std::string code = std::to_string(status);
  label_values values(leading_.begin(), leading_.end());
  values.push_back(code);
  const detail::series_slots& slots = family_.core_->find_or_add(values);
  if (cacheable) (*cache_)[status - first_cached].store(&slots, std::memory_order_release);
  return counter(slots);
}

void status_counter::inc(std::size_t thread, int status) const {
  series(status).inc(thread);
}

std::uint64_t status_counter::value(int status) const {
  return series(status).value();
}

metrics_registry::metrics_registry(std::size_t workers)
    : workers_(workers), state_(std::make_unique<state>()) {
  state_->threads = threads();
}

metrics_registry::~metrics_registry() = default;

detail::family_core* metrics_registry::add_family(std::string name, std::string help,
                                                  metric_type type,
                                                  std::vector<std::string> label_names,
                                                  std::vector<double> bounds) {
  check_names(name, type, label_names);
  if (type == metric_type::histogram) check_bounds(name, bounds);
  const bool unlabelled = label_names.empty();
  detail::family_core* core = nullptr;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->families.contains(name)) {
      throw std::invalid_argument("metric registered twice: " + name);
    }
    auto owned = std::make_unique<detail::family_core>(detail::family_core{
        state_.get(), name, std::move(help), type, std::move(label_names), std::move(bounds), {}});
    core = owned.get();
    state_->families.emplace(std::move(name), std::move(owned));
  }
  if (unlabelled) core->find_or_add({});
  return core;
}

counter_family metrics_registry::add_counter(std::string name, std::string help,
                                             std::vector<std::string> label_names) {
  return counter_family(add_family(std::move(name), std::move(help), metric_type::counter,
                                   std::move(label_names), {}));
}

gauge_family metrics_registry::add_gauge(std::string name, std::string help,
                                         std::vector<std::string> label_names) {
  return gauge_family(
      add_family(std::move(name), std::move(help), metric_type::gauge, std::move(label_names), {}));
}

histogram_family metrics_registry::add_histogram(std::string name, std::string help,
                                                 std::vector<std::string> label_names,
                                                 std::vector<double> bounds) {
  return histogram_family(add_family(std::move(name), std::move(help), metric_type::histogram,
                                     std::move(label_names), std::move(bounds)));
}

std::vector<family_snapshot> metrics_registry::snapshot() const {
  std::lock_guard lock(state_->mutex);
  std::vector<family_snapshot> out;
  out.reserve(state_->families.size());
  for (const auto& [name, core] : state_->families) out.push_back(core->snapshot());
  return out;
}

std::string metrics_registry::prometheus_text() const {
  return render_prometheus(snapshot());
}

}  // namespace bulwark::observe
