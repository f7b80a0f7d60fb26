// The breaker's state machine over one atomic word; see circuit_breaker.h for the
// states, the races considered and why the hot path needs no lock.
#include "core/circuit_breaker.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <stdexcept>
#include <utility>

namespace bulwark::core {

namespace {

constexpr auto acquire = std::memory_order_acquire;
constexpr auto acq_rel = std::memory_order_acq_rel;

// The state word: [generation: 32 | unused: 1 | state: 3 | slow: 7 | failures: 7 |
// reported: 7 | admitted: 7]. The four 7-bit fields are the half-open tally and
// are zero in every other state, so the word of a closed generation never
// changes: a CAS from it fails exactly when a transition has happened.
struct word_fields {
  std::uint32_t generation = 0;
  breaker_state state = breaker_state::closed;
  std::uint32_t probes_admitted = 0;  // slots taken: in flight + reported
  std::uint32_t probes_reported = 0;
  std::uint32_t probe_failures = 0;
  std::uint32_t probe_slow_calls = 0;
};

constexpr int tally_bits = 7;
constexpr std::uint64_t tally_mask = (1U << tally_bits) - 1;
constexpr int state_shift = 4 * tally_bits;
constexpr int generation_shift = 32;

std::uint64_t pack(const word_fields& f) {
  return std::uint64_t{f.generation} << generation_shift |
         std::uint64_t{static_cast<std::uint8_t>(f.state)} << state_shift |
         std::uint64_t{f.probe_slow_calls} << (3 * tally_bits) |
         std::uint64_t{f.probe_failures} << (2 * tally_bits) |
         std::uint64_t{f.probes_reported} << tally_bits | f.probes_admitted;
}

word_fields unpack(std::uint64_t word) {
  const auto tally = [word](int index) {
    return static_cast<std::uint32_t>(word >> (index * tally_bits) & tally_mask);
  };
  return {static_cast<std::uint32_t>(word >> generation_shift),
          static_cast<breaker_state>(word >> state_shift & 0x7U),
          tally(0),
          tally(1),
          tally(2),
          tally(3)};
}

std::uint64_t fresh_word(std::uint32_t generation, breaker_state state) {
  return pack({generation, state});
}

// Compile-time check of every transition the code below can make.
constexpr bool allowed_from_every_other_state(breaker_state to) {
  for (auto from : {breaker_state::closed, breaker_state::open, breaker_state::half_open,
                    breaker_state::forced_open, breaker_state::forced_closed}) {
    if (from != to && !is_allowed_transition(from, to)) return false;
  }
  return true;
}
static_assert(is_allowed_transition(breaker_state::closed, breaker_state::open));
static_assert(is_allowed_transition(breaker_state::open, breaker_state::half_open));
static_assert(is_allowed_transition(breaker_state::half_open, breaker_state::closed));
static_assert(is_allowed_transition(breaker_state::half_open, breaker_state::open));
static_assert(allowed_from_every_other_state(breaker_state::forced_open));
static_assert(allowed_from_every_other_state(breaker_state::forced_closed));
static_assert(allowed_from_every_other_state(breaker_state::closed));

std::variant<count_window, time_window> make_window(const circuit_breaker_settings& s) {
  // Returned as prvalues: the window types are neither copyable nor movable.
  if (s.window_type == window_kind::count_based) {
    return std::variant<count_window, time_window>(std::in_place_type<count_window>,
                                                   s.window_calls);
  }
  return std::variant<count_window, time_window>(std::in_place_type<time_window>, s.window,
                                                 s.window_buckets);
}

const circuit_breaker_settings& checked(const circuit_breaker_settings& settings) {
  const auto problems = settings.validate();
  if (problems.empty()) return settings;
  std::string message = "invalid circuit breaker settings:";
  for (const auto& problem : problems) message += " " + problem + ";";
  throw std::invalid_argument(message);
}

std::string ns_text(duration d) {
  return std::to_string(d.count()) + "ns";
}

std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// False for NaN too.
bool is_rate(double value) {
  return value > 0.0 && value <= 1.0;
}

}  // namespace

std::string_view to_string(breaker_state state) {
  switch (state) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
    case breaker_state::forced_open:
      return "forced_open";
    case breaker_state::forced_closed:
      return "forced_closed";
  }
  return "unknown";
}

std::vector<std::string> circuit_breaker_settings::validate() const {
  std::vector<std::string> problems;
  const auto add = [&problems](std::string field, std::string rule, std::string got) {
    problems.push_back(field + ": must be " + rule + ", got " + got);
  };
  if (window_type == window_kind::count_based) {
    if (window_calls < 1 || window_calls > count_window::max_size) {
      add("window_calls", "in [1, " + std::to_string(count_window::max_size) + "]",
          std::to_string(window_calls));
    } else if (min_requests > window_calls) {
      add("min_requests", "at most window_calls (" + std::to_string(window_calls) + ")",
          std::to_string(min_requests));
    }
  } else {
    if (window_buckets < 1 || window_buckets > time_window::max_buckets) {
      add("window_buckets", "in [1, " + std::to_string(time_window::max_buckets) + "]",
          std::to_string(window_buckets));
    } else if (window < duration{window_buckets}) {
      add("window", "at least 1ns per bucket", ns_text(window));
    }
  }
  if (min_requests < 1) add("min_requests", "at least 1", std::to_string(min_requests));
  if (!is_rate(failure_rate)) add("failure_rate", "in (0, 1]", number_text(failure_rate));
  if (!is_rate(slow_call_rate)) {
    add("slow_call_rate", "in (0, 1]", number_text(slow_call_rate));
  }
  if (slow_call <= duration::zero()) add("slow_call", "positive", ns_text(slow_call));
  if (open_for <= duration::zero()) add("open_for", "positive", ns_text(open_for));
  if (half_open_requests < 1 || half_open_requests > max_half_open_requests) {
    add("half_open_requests", "in [1, " + std::to_string(max_half_open_requests) + "]",
        std::to_string(half_open_requests));
  }
  return problems;
}

// --- breaker_permit ------------------------------------------------------------

breaker_permit::breaker_permit(breaker_permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)),
      generation_(other.generation_),
      retry_after_(other.retry_after_) {}

breaker_permit& breaker_permit::operator=(breaker_permit&& other) noexcept {
  if (this != &other) {
    if (breaker_ != nullptr) breaker_->on_probe_ignored(generation_);
    breaker_ = std::exchange(other.breaker_, nullptr);
    generation_ = other.generation_;
    retry_after_ = other.retry_after_;
  }
  return *this;
}

breaker_permit::~breaker_permit() {
  if (breaker_ != nullptr) breaker_->on_probe_ignored(generation_);
}

void breaker_permit::record(call_outcome outcome, duration call_duration, time_point now) {
  if (breaker_ == nullptr) return;
  std::exchange(breaker_, nullptr)->on_record(generation_, outcome, call_duration, now);
}

// --- circuit_breaker: admission --------------------------------------------------

circuit_breaker::circuit_breaker(circuit_breaker_settings settings,
                                 transition_listener on_transition)
    : settings_(checked(settings)),
      on_transition_(std::move(on_transition)),
      window_(make_window(settings_)),
      state_(fresh_word(0, breaker_state::closed)) {}

breaker_permit circuit_breaker::try_admit(time_point now) {
  std::uint64_t word = state_.load(acquire);
  for (;;) {
    const word_fields current = unpack(word);
    switch (current.state) {
      case breaker_state::closed:
      case breaker_state::forced_closed:
        return breaker_permit(this, current.generation);
      case breaker_state::forced_open:
        return breaker_permit(settings_.open_for);
      case breaker_state::open: {
        const duration left = time_point{duration{open_until_.load(acquire)}} - now;
        if (left > duration::zero()) return breaker_permit(left);
        // The caller that moves the breaker to half_open takes the first probe
        // slot in the same CAS, so no other thread can fill the slots first.
        word_fields next{current.generation + 1, breaker_state::half_open};
        next.probes_admitted = 1;
        if (transition(word, pack(next))) return breaker_permit(this, next.generation);
        break;  // `word` was reloaded; decide again
      }
      case breaker_state::half_open: {
        if (current.probes_admitted >= settings_.half_open_requests) {
          return breaker_permit(duration::zero());
        }
        word_fields next = current;
        ++next.probes_admitted;
        if (state_.compare_exchange_weak(word, pack(next), acq_rel, acquire)) {
          return breaker_permit(this, current.generation);
        }
        break;
      }
    }
  }
}

// --- circuit_breaker: outcomes ----------------------------------------------------

void circuit_breaker::on_record(std::uint32_t generation, call_outcome outcome,
                                duration call_duration, time_point now) {
  if (outcome == call_outcome::ignored) {
    on_probe_ignored(generation);
    return;
  }
  const call_sample sample{outcome == call_outcome::failure, call_duration > settings_.slow_call};
  const std::uint64_t word = state_.load(acquire);
  const word_fields current = unpack(word);
  if (current.generation != generation) return;  // admitted before a transition: stale
  if (current.state == breaker_state::closed) {
    on_closed_record(word, now, sample);
  } else if (current.state == breaker_state::half_open) {
    on_probe_record(word, now, sample);
  }
  // forced_closed measures nothing; open and forced_open admit no one.
}

void circuit_breaker::on_closed_record(std::uint64_t word, time_point now, call_sample sample) {
  const std::uint32_t generation = unpack(word).generation;
  const auto totals = record_in_window(generation, now, sample);
  if (!totals || !over_thresholds(*totals)) return;
  extend_open_until(now + settings_.open_for);
  // Several threads may get here for the same crossing; the CAS from this
  // generation's (unchanging) closed word lets exactly one of them open.
  transition(word, fresh_word(generation + 1, breaker_state::open));
}

void circuit_breaker::on_probe_record(std::uint64_t word, time_point now, call_sample sample) {
  const std::uint32_t generation = unpack(word).generation;
  for (;;) {
    word_fields next = unpack(word);
    if (next.generation != generation || next.state != breaker_state::half_open) return;
    ++next.probes_reported;
    next.probe_failures += sample.failed ? 1 : 0;
    next.probe_slow_calls += sample.slow ? 1 : 0;
    if (next.probes_reported < settings_.half_open_requests) {
      if (state_.compare_exchange_weak(word, pack(next), acq_rel, acquire)) return;
      continue;
    }
    // The last probe decides, in the CAS that counts it. min_requests does not
    // apply: half_open_requests is the sample size the operator chose.
    const window_totals probes{next.probes_reported, next.probe_failures, next.probe_slow_calls};
    const bool reopen = probes.failure_rate() >= settings_.failure_rate ||
                        probes.slow_call_rate() >= settings_.slow_call_rate;
    if (reopen) {
      extend_open_until(now + settings_.open_for);
    } else {
      start_window(generation + 1);
    }
    const auto target = reopen ? breaker_state::open : breaker_state::closed;
    if (transition(word, fresh_word(generation + 1, target))) return;
  }
}

// An ignored call says nothing about the upstream, so it is not measured; a
// half-open probe slot it held is given back and another request may probe.
// The decision still waits for half_open_requests real outcomes.
void circuit_breaker::on_probe_ignored(std::uint32_t generation) {
  std::uint64_t word = state_.load(acquire);
  for (;;) {
    word_fields next = unpack(word);
    if (next.generation != generation || next.state != breaker_state::half_open) return;
    --next.probes_admitted;
    if (state_.compare_exchange_weak(word, pack(next), acq_rel, acquire)) return;
  }
}

bool circuit_breaker::over_thresholds(const window_totals& totals) const {
  return totals.calls >= settings_.min_requests &&
         (totals.failure_rate() >= settings_.failure_rate ||
          totals.slow_call_rate() >= settings_.slow_call_rate);
}

// --- circuit_breaker: transitions -------------------------------------------------

// One CAS; on success this thread made the transition and tells the listener,
// outside any lock. On failure `expected` holds the current word.
bool circuit_breaker::transition(std::uint64_t& expected, std::uint64_t desired) {
  const breaker_state from = unpack(expected).state;
  const breaker_state to = unpack(desired).state;
  assert(from == to || is_allowed_transition(from, to));
  if (!state_.compare_exchange_strong(expected, desired, acq_rel, acquire)) return false;
  if (from != to && on_transition_) on_transition_(from, to);
  return true;
}

void circuit_breaker::force(breaker_state target) {
  std::uint64_t word = state_.load(acquire);
  for (;;) {
    const word_fields current = unpack(word);
    if (current.state == target) return;
    if (transition(word, fresh_word(current.generation + 1, target))) return;
  }
}

void circuit_breaker::force_open() {
  force(breaker_state::forced_open);
}
void circuit_breaker::force_close() {
  force(breaker_state::forced_closed);
}

void circuit_breaker::reset() {
  std::uint64_t word = state_.load(acquire);
  for (;;) {
    const std::uint32_t next_generation = unpack(word).generation + 1;
    start_window(next_generation);
    if (transition(word, fresh_word(next_generation, breaker_state::closed))) return;
  }
}

// The window must be empty for a closed generation before the CAS publishes it.
// Starting it for a generation that then loses its CAS is harmless: no one
// records in that generation's window unless it becomes a closed one, and then
// it is started again first.
void circuit_breaker::start_window(std::uint32_t generation) {
  std::visit([generation](auto& window) { window.start_generation(generation); }, window_);
}

// A CAS max: a thread that lost the race to open (or was preempted before its
// store) can only write an earlier deadline, which never shortens a later one.
void circuit_breaker::extend_open_until(time_point deadline) {
  const std::int64_t wanted = deadline.time_since_epoch().count();
  std::int64_t current = open_until_.load(acquire);
  while (current < wanted &&
         !open_until_.compare_exchange_weak(current, wanted, acq_rel, acquire)) {
  }
}

// --- circuit_breaker: windows and observation ---------------------------------------

std::optional<window_totals> circuit_breaker::record_in_window(std::uint32_t generation,
                                                               time_point now, call_sample sample) {
  if (auto* count = std::get_if<count_window>(&window_)) return count->record(generation, sample);
  return std::get<time_window>(window_).record(generation, now, sample);
}

window_totals circuit_breaker::window_totals_at(std::uint32_t generation, time_point now) const {
  if (const auto* count = std::get_if<count_window>(&window_)) return count->totals(generation);
  return std::get<time_window>(window_).totals(generation, now);
}

breaker_state circuit_breaker::state() const {
  return unpack(state_.load(acquire)).state;
}

window_totals circuit_breaker::totals(time_point now) const {
  const word_fields current = unpack(state_.load(acquire));
  switch (current.state) {
    case breaker_state::closed:
      return window_totals_at(current.generation, now);
    case breaker_state::half_open:
      return {current.probes_reported, current.probe_failures, current.probe_slow_calls};
    default:
      return {};
  }
}

duration circuit_breaker::time_left_open(time_point now) const {
  switch (state()) {
    case breaker_state::open: {
      const duration left = time_point{duration{open_until_.load(acquire)}} - now;
      return std::max(left, duration::zero());
    }
    case breaker_state::forced_open:
      return settings_.open_for;
    default:
      return duration::zero();
  }
}

}  // namespace bulwark::core
