// The keyed hash's secrets: drawn once per key_table from std::random_device, so
// that collisions an attacker finds against one process (or one table) do not
// carry over to another.
#include "core/key_table.h"

#include <random>

namespace bulwark::core::detail {
namespace {

std::uint64_t random_word(std::random_device& source) {
  static_assert(sizeof(std::random_device::result_type) == 4);
  return (std::uint64_t{source()} << 32) | source();
}

}  // namespace

keyed_hash::keyed_hash() {
  std::random_device source;
  secret0_ = random_word(source);
  secret1_ = random_word(source);
  const std::uint64_t seed = random_word(source);
  // As wyhash does with its seed: fold the secrets in once, not on every call.
  seed_ = seed ^ mix(seed ^ secret0_, secret1_);
}

}  // namespace bulwark::core::detail
