// Shared by the store's unit tests: a temporary directory, raw file reads,
// fixed wall-clock times.
#pragma once

#include "unit/temp_dir.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "store/api_key.h"
#include "store/sqlite_key_store.h"

namespace bulwark::store::test {

using bulwark::test::temp_dir;

// 2026-05-28T20:26:40Z: every test's "now" is a fixed point, never the clock.
inline const wall_time t0 = from_unix_ms(1'780'000'000'000);

// The store at `path`, created if missing; throws (failing the test) when it
// cannot be opened.
inline std::shared_ptr<sqlite_key_store> open_store(const std::string& path) {
  auto opened = sqlite_key_store::open(path);
  if (!opened.ok()) throw std::runtime_error(opened.error.message);
  return *opened.value;
}


// The file's bytes; "" when it does not exist.
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace bulwark::store::test
