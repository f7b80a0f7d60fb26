// Circuit breaker (DESIGN.md `upstreams[].circuit_breaker`): resilience4j's
// CircuitBreakerStateMachine, one instance shared by every worker thread.
//
//   closed ──(rates over thresholds, >= min_requests calls)──► open
//   open ──(open_for elapsed; the next try_admit)──► half_open
//   half_open ──(all probes reported, rates under thresholds)──► closed
//   half_open ──(all probes reported, a rate at or over its threshold)──► open
//   any ──force_open()──► forced_open    any ──force_close()──► forced_closed
//   any ──reset()──► closed (fresh window)
//
// Forced states are states of the same machine, not a flag beside it: the one
// state word, the one transition table and the one callback then cover the
// operator's actions too, and state() never needs a second field to be
// understood. forced_open refuses everything and forced_closed admits everything
// without measuring (resilience4j's FORCED_OPEN and DISABLED); neither leaves on
// its own, only by another operator action (reset() returns to automatic mode).
//
// Every record in closed re-evaluates the window, a success included (as in
// resilience4j: the call that reaches min_requests may be the one that opens).
// In half_open, exactly half_open_requests probes are admitted; an `ignored`
// probe (or a permit dropped unrecorded) gives its slot back, so another request
// may probe, and the decision waits for half_open_requests real outcomes. An
// operator-facing gauge maps forced_open like open and forced_closed like closed.
//
// open -> half_open happens lazily, in the first try_admit() after open_for:
// src/core has no timers or threads, and the first request after the deadline
// is the first moment the difference matters. state() reports `open` until then
// and time_left_open() reports zero.
//
// Concurrency. Everything the state machine decides lives in one 64-bit atomic
// word: [generation: 32 | state: 3 | half-open tally: 4 x 7 bits]. Admission and
// recording in closed state never write it (a load, then the lock-free window);
// half-open admissions and probe results are CAS loops on it, so the probe count
// can never exceed half_open_requests, not even transiently, and the tally and
// the decision move together. Every transition is one CAS that also increments
// the generation: exactly one thread wins it and then invokes the callback.
// Races considered:
// - two threads record the last failure that crosses the threshold at once:
//   both try the same closed -> open CAS; one wins and notifies, the other's CAS
//   fails and it does nothing.
// - a permit admitted in an earlier generation (a call that outlived the whole
//   open/half-open cycle) records late: its generation no longer matches, so it
//   changes nothing; if it raced past that check just before a transition, the
//   window drops it (see sliding_outcome_window.h), and a half-open tally update
//   is a CAS on the word that holds the generation.
// - the last two probes report at once: their CASes serialize on the word; the
//   one that completes the tally decides, in the same CAS.
// - a probe's result arrives while an operator forces a state: the probe's CAS
//   fails on the new generation and the result is ignored.
//
// The transition callback runs on the thread that made the transition, after
// the CAS, under no lock, so it may call back into the breaker (even force a
// state) without deadlock. Callbacks of successive transitions made by different
// threads may run concurrently or out of order; a consumer that wants the
// current state (a gauge) should read state().
//
// Permits must not outlive their breaker (the proxy keeps the breaker alive with
// the configuration snapshot the request started on).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/clock.h"
#include "core/sliding_outcome_window.h"

namespace bulwark::core {

enum class breaker_state : std::uint8_t { closed, open, half_open, forced_open, forced_closed };

std::string_view to_string(breaker_state state);

struct breaker_transition {
  breaker_state from;
  breaker_state to;
};

// Every transition the breaker may make; any other (from, to) pair is a bug.
// circuit_breaker.cpp checks each transition it can make against this table at
// compile time, and each one it makes at run time in debug builds.
inline constexpr std::array<breaker_transition, 15> allowed_transitions{{
    // Automatic, as resilience4j.
    {breaker_state::closed, breaker_state::open},
    {breaker_state::open, breaker_state::half_open},
    {breaker_state::half_open, breaker_state::closed},
    {breaker_state::half_open, breaker_state::open},
    // force_open(), from every other state.
    {breaker_state::closed, breaker_state::forced_open},
    {breaker_state::open, breaker_state::forced_open},
    {breaker_state::half_open, breaker_state::forced_open},
    {breaker_state::forced_closed, breaker_state::forced_open},
    // force_close(), from every other state.
    {breaker_state::closed, breaker_state::forced_closed},
    {breaker_state::open, breaker_state::forced_closed},
    {breaker_state::half_open, breaker_state::forced_closed},
    {breaker_state::forced_open, breaker_state::forced_closed},
    // reset(), from every other state (half_open -> closed is listed above).
    {breaker_state::open, breaker_state::closed},
    {breaker_state::forced_open, breaker_state::closed},
    {breaker_state::forced_closed, breaker_state::closed},
}};

constexpr bool is_allowed_transition(breaker_state from, breaker_state to) {
  for (const auto& allowed : allowed_transitions) {
    if (allowed.from == from && allowed.to == to) return true;
  }
  return false;
}

enum class call_outcome {
  success,
  failure,
  ignored,  // says nothing about the upstream (failed before a meaningful round trip)
};

enum class window_kind { count_based, time_based };

struct circuit_breaker_settings {
  window_kind window_type = window_kind::time_based;
  std::uint32_t window_calls = 100;              // count_based: the last N calls
  duration window = std::chrono::seconds(30);    // time_based: the last `window`...
  std::uint32_t window_buckets = 10;             // ...in buckets of window / window_buckets
  std::uint32_t min_requests = 20;               // calls in the window before rates count
  double failure_rate = 0.5;                     // open at or above, in (0, 1]
  duration slow_call = std::chrono::seconds(2);  // a call is slow when it takes longer
  double slow_call_rate = 0.8;                   // open at or above, in (0, 1]
  duration open_for = std::chrono::seconds(10);
  std::uint32_t half_open_requests = 3;  // probes, 1..max_half_open_requests

  // Seven bits per field of the half-open tally in the state word.
  static constexpr std::uint32_t max_half_open_requests = 127;

  // One message per problem ("failure_rate: must be in (0, 1], got 1.5"), empty
  // when valid; the config layer prefixes each with its file position and path.
  std::vector<std::string> validate() const;
  friend bool operator==(const circuit_breaker_settings&, const circuit_breaker_settings&) = default;
};

class circuit_breaker;

// The answer of try_admit(): either admitted (then record() the call's outcome)
// or refused (then retry_after() says for how long). Move-only; an admitted
// permit destroyed without record() counts as `ignored`, which gives a
// half-open probe slot back, so the slot is released on every path.
class breaker_permit {
 public:
  breaker_permit() = default;
  breaker_permit(breaker_permit&& other) noexcept;
  breaker_permit& operator=(breaker_permit&& other) noexcept;
  breaker_permit(const breaker_permit&) = delete;
  breaker_permit& operator=(const breaker_permit&) = delete;
  ~breaker_permit();

  bool admitted() const { return breaker_ != nullptr; }
  explicit operator bool() const { return admitted(); }

  // Refused: the time left open (Retry-After). Zero when the breaker cannot
  // tell: half-open with every probe slot taken; the caller applies its floor.
  duration retry_after() const { return retry_after_; }

  // Reports the call; later calls, and calls on a refused permit, do nothing.
  // `now` is when the call finished; a call is slow when call_duration > slow_call.
  void record(call_outcome outcome, duration call_duration, time_point now);

 private:
  friend class circuit_breaker;
  breaker_permit(circuit_breaker* breaker, std::uint32_t generation)
      : breaker_(breaker), generation_(generation) {}
  explicit breaker_permit(duration retry_after) : retry_after_(retry_after) {}

  circuit_breaker* breaker_ = nullptr;
  std::uint32_t generation_ = 0;
  duration retry_after_{};
};

class circuit_breaker {
 public:
  using transition_listener = std::function<void(breaker_state from, breaker_state to)>;

  // Throws std::invalid_argument when settings.validate() reports problems
  // (construction happens at configuration load, not on the request path).
  explicit circuit_breaker(circuit_breaker_settings settings,
                           transition_listener on_transition = {});
  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  breaker_permit try_admit(time_point now);

  // Operator actions; each is a transition unless the breaker is already there
  // (reset() of a closed breaker starts a fresh window without a transition).
  void force_open();
  void force_close();
  void reset();

  breaker_state state() const;
  // The current closed period's window (calls, failures, slow calls); in
  // half_open the probes reported so far; zero in the other states.
  window_totals totals(time_point now) const;
  double failure_rate(time_point now) const { return totals(now).failure_rate(); }
  double slow_call_rate(time_point now) const { return totals(now).slow_call_rate(); }
  std::uint64_t calls_in_window(time_point now) const { return totals(now).calls; }
  // open: until the next try_admit() may probe (zero once due); forced_open:
  // open_for, the advised retry interval of a breaker with no deadline; else zero.
  duration time_left_open(time_point now) const;

  const circuit_breaker_settings& settings() const { return settings_; }

 private:
  friend class breaker_permit;

  void on_record(std::uint32_t generation, call_outcome outcome, duration call_duration,
                 time_point now);
  void on_closed_record(std::uint64_t word, time_point now, call_sample sample);
  void on_probe_record(std::uint64_t word, time_point now, call_sample sample);
  void on_probe_ignored(std::uint32_t generation);

  std::optional<window_totals> record_in_window(std::uint32_t generation, time_point now,
                                                call_sample sample);
  window_totals window_totals_at(std::uint32_t generation, time_point now) const;
  void start_window(std::uint32_t generation);
  void extend_open_until(time_point deadline);
  bool over_thresholds(const window_totals& totals) const;

  bool transition(std::uint64_t& expected, std::uint64_t desired);
  void force(breaker_state target);

  const circuit_breaker_settings settings_;
  const transition_listener on_transition_;
  std::variant<count_window, time_window> window_;
  std::atomic<std::uint64_t> state_;
  // The deadline of the current open period, in ns since the clock's epoch. Only
  // ever raised (see extend_open_until), written before the CAS that opens.
  std::atomic<std::int64_t> open_until_{0};
};

}  // namespace bulwark::core
