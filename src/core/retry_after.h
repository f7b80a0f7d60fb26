// Retry-After (RFC 9110 §10.2.3) and the rule for honouring it.
//
// Retry-After = HTTP-date / delay-seconds. parse_retry_after() accepts
//   delay-seconds  1*DIGIT, e.g. "120";
//   HTTP-date      all three forms that recipients MUST accept (§5.6.7):
//                  IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
//                  rfc850-date  "Sunday, 06-Nov-94 08:49:37 GMT"
//                  asctime-date "Sun Nov  6 08:49:37 1994"
// and returns the wait counted from `now` (wall time, passed in). Surrounding
// spaces and tabs are skipped; anything else that does not match the grammar
// exactly (signs, fractions, wrong case, impossible dates) is invalid: nullopt.
// The day name must be a valid one but is not checked against the date.
//
// Bounds. A date in the past gives zero. Waits longer than 2^31 seconds,
// delta or date, saturate to 2^31 seconds, the value RFC 9111 §1.2.2 tells a
// recipient to use when a delta overflows; they then fail any realistic
// honored_delay() budget instead of overflowing a duration.
// A two-digit rfc850 year is the one in the century that puts the date at most
// 50 years after `now` (§5.6.7).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "core/clock.h"

namespace bulwark::core {

inline constexpr duration max_retry_after = std::chrono::seconds{std::int64_t{1} << 31};

std::optional<duration> parse_retry_after(std::string_view value,
                                          std::chrono::system_clock::time_point now);

// How long to wait before the next try, or nullopt for "do not retry".
// The wait is the computed backoff, or the server's Retry-After when that is
// longer (a server asking for a pause is never retried earlier than it asked).
// If the wait does not end strictly before `time_left` (what remains of the
// request's whole timeout for waiting), a retry could not run at all, so none is
// made: the caller answers with the last response instead of waiting in vain.
// The caller decides what to reserve for the try itself by what it passes.
std::optional<duration> honored_delay(std::optional<duration> retry_after,
                                      duration computed_backoff, duration time_left);

}  // namespace bulwark::core
