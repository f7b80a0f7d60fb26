// Instants and arrivals shared by the core tests, which take time as an
// argument (STYLE.md "Time is injected"). Shared rather than copied: the test
// files of a folder compile together (unity build), so one name means one thing.
#pragma once

#include <chrono>
#include <cstdint>

#include "core/clock.h"

namespace bulwark::core::test {

// Far from the clock's epoch and a whole second: bucket-aligned.
inline constexpr time_point t0{std::chrono::seconds{1'000'000}};

// The instant `ns` nanoseconds after the clock's epoch.
inline constexpr time_point at(std::int64_t ns) { return time_point{duration{ns}}; }

// One request of a generated schedule: when (ns since the epoch) and its cost.
struct arrival {
  std::int64_t at;
  std::uint64_t cost;
};

}  // namespace bulwark::core::test
