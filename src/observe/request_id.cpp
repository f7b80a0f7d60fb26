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

std::string request_id_generator::next() {
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t word = next_word();
    for (int i = 0; i < 16; ++i, word >>= 4) id[half * 16 + i] = hex[word & 0xF];
  }
  return id;
}

std::string make_request_id() {
  thread_local request_id_generator generator;
  return generator.next();
}

}  // namespace bulwark::observe
