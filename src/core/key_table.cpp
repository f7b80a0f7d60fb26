// The keyed hash's secrets: drawn once per key_table from std::random_device, so
// that collisions an attacker finds against one process (or one table) do not
// carry over to another. Also the non-template parts of the slot arrays: the
// free-slot bitmap and the zero-filled allocation.
#include "core/key_table.h"

#include <sys/mman.h>

#include <random>

namespace bulwark::core::detail {
namespace {

std::uint64_t random_word(std::random_device& source) {
  static_assert(sizeof(std::random_device::result_type) == 4);
  return (std::uint64_t{source()} << 32) | source();
}

// Bits [from, 64) of a word.
std::uint64_t from_bit(std::size_t from) { return ~std::uint64_t{0} << (from & 63); }

}  // namespace

keyed_hash::keyed_hash() {
  std::random_device source;
  secret0_ = random_word(source);
  secret1_ = random_word(source);
  const std::uint64_t seed = random_word(source);
  // As wyhash does with its seed: fold the secrets in once, not on every call.
  seed_ = seed ^ mix(seed ^ secret0_, secret1_);
}

free_slot_map::free_slot_map(std::size_t slots)
    : words_((slots + 63) / 64, ~std::uint64_t{0}), summary_((words_.size() + 63) / 64, 0) {
  if (slots % 64 != 0) words_.back() = (std::uint64_t{1} << (slots % 64)) - 1;
  for (std::size_t w = 0; w < words_.size(); ++w) {
    if (words_[w] != 0) summary_[w >> 6] |= std::uint64_t{1} << (w & 63);
  }
}

void free_slot_map::set(std::size_t i) noexcept {
  const std::size_t w = i >> 6;
  words_[w] |= std::uint64_t{1} << (i & 63);
  summary_[w >> 6] |= std::uint64_t{1} << (w & 63);
}

void free_slot_map::clear(std::size_t i) noexcept {
  const std::size_t w = i >> 6;
  words_[w] &= ~(std::uint64_t{1} << (i & 63));
  if (words_[w] == 0) summary_[w >> 6] &= ~(std::uint64_t{1} << (w & 63));
}

std::size_t free_slot_map::first_word_from(std::size_t word) const noexcept {
  for (std::size_t s = word >> 6; s < summary_.size(); ++s) {
    std::uint64_t bits = summary_[s];
    if (s == word >> 6) bits &= from_bit(word);
    if (bits != 0) return s * 64 + static_cast<std::size_t>(std::countr_zero(bits));
  }
  return none;
}

std::size_t free_slot_map::find_from(std::size_t from) const noexcept {
  const std::size_t w = from >> 6;
  if (const std::uint64_t bits = words_[w] & from_bit(from); bits != 0) {
    return w * 64 + static_cast<std::size_t>(std::countr_zero(bits));
  }
  std::size_t found = w + 1 < words_.size() ? first_word_from(w + 1) : none;
  if (found == none) found = first_word_from(0);  // wraps; may be w's lower bits
  if (found == none) return none;
  return found * 64 + static_cast<std::size_t>(std::countr_zero(words_[found]));
}

void* allocate_zeroed(std::size_t bytes) noexcept {
  void* block = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return block == MAP_FAILED ? nullptr : block;
}

void free_zeroed(void* block, std::size_t bytes) noexcept {
  if (block != nullptr) ::munmap(block, bytes);
}

}  // namespace bulwark::core::detail
