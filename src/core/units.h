// Parsing of the quantities a configuration is written in (DESIGN.md §4):
// durations (`250ms`, `5s`, `2m`, `1h`), sizes (`512`, `16KiB`, `10MiB`) and
// rates (`100/s`, `5/min`, `1000/h`).
//
// The grammar is deliberately strict, so that a value means one thing only:
// - a whole number and a unit, nothing between them and nothing around them;
//   no sign, no fraction (`1.5s` is refused: write `1500ms`), no spaces;
// - durations: ms, s, m (minutes), h, d; a bare `0` is accepted (zero is zero in
//   every unit), any other bare number is refused because its unit is unknown;
// - sizes: a bare number is bytes; units are binary (KiB, MiB, GiB, TiB). The
//   decimal spellings (KB, MB, k, M...) are refused with a hint rather than guessed,
//   since `16KB` means 16000 to some readers and 16384 to others;
// - rates: COUNT/s, COUNT/min or COUNT/h, COUNT at least 1 (`/m` is refused:
//   write `/min`).
// A value that does not fit (a duration over 2562047h, a size over 2^64 - 1) is an
// error, never a wrapped-around number.
//
// Nothing here throws on bad input: every function returns `parsed<T>`, whose
// `error` says what was expected and is ready to be shown to a user after the
// field's name (the caller adds the value as written).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"

namespace bulwark::core {

template <class T>
struct parsed {
  std::optional<T> value;  // set exactly when the text was valid
  std::string error;       // what was expected; empty when `value` is set

  bool ok() const noexcept { return value.has_value(); }

  static parsed success(T v) { return parsed{std::move(v), {}}; }
  static parsed failure(std::string message) { return parsed{std::nullopt, std::move(message)}; }
};

// `count` events per `per`; `5/min` is {5, 60s}.
struct rate {
  uint64_t count = 0;
  duration per{};

  friend bool operator==(const rate&, const rate&) = default;
};

parsed<duration> parse_duration(std::string_view text);
parsed<uint64_t> parse_size(std::string_view text);
parsed<rate> parse_rate(std::string_view text);

// The inverse of parse_duration for the durations it yields: the largest unit
// that divides exactly (`90s` -> "90s", `120s` -> "2m", zero -> "0"). A
// duration that is not whole milliseconds is written in ns, which parse_duration
// does not read.
std::string format_duration(duration value);

}  // namespace bulwark::core
