#include "observe/request_id.h"

#include <random>

namespace bulwark::observe {

bool is_acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > max_request_id_length) return false;
  for (const char c : id) {
    if (c < 0x21 || c > 0x7E) return false;  // visible ASCII only: no space, no controls
  }
  return true;
}

request_id_generator::request_id_generator() {
  std::random_device device;
  for (auto& word : state_) {
    word = (static_cast<uint64_t>(device()) << 32) | device();
  }
  if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) state_[0] = 1;  // never all-zero
}

uint64_t request_id_generator::next_word() {
  const auto rotl = [](uint64_t x, int k) { return (x << k) | (x >> (64 - k)); };
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

void request_id_generator::next(std::span<char, made_request_id_length> out) {
  static constexpr char hex[] = "0123456789abcdef";
  static_assert(made_request_id_length == 32, "two 64-bit words, 16 hex digits each");
  for (std::size_t half = 0; half < 2; ++half) {
    uint64_t word = next_word();
    for (std::size_t i = 0; i < 16; ++i, word >>= 4) out[half * 16 + i] = hex[word & 0xF];
  }
}

std::string request_id_generator::next() {
  std::string id(made_request_id_length, '0');
  next(std::span<char, made_request_id_length>(id.data(), made_request_id_length));
  return id;
}

namespace {
request_id_generator& this_threads_generator() {
  thread_local request_id_generator generator;
  return generator;
}
}  // namespace

void make_request_id(std::span<char, made_request_id_length> out) {
  this_threads_generator().next(out);
}

std::string make_request_id() {
  return this_threads_generator().next();
}

}  // namespace bulwark::observe
