// Request ids (DESIGN.md §6): a client's id is kept when it is sane (1 to 128
// visible ASCII characters), otherwise the gateway makes one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace bulwark::observe {

constexpr std::size_t max_request_id_length = 128;
constexpr std::size_t made_request_id_length = 32;

bool is_acceptable_request_id(std::string_view id);

// Makes request ids: 32 lowercase hex characters (128 random bits) from a
// per-instance xoshiro256** generator seeded from std::random_device. Not
// cryptographic (ids are correlation handles, not secrets); one generator per
// worker thread, so no locking.
class request_id_generator {
 public:
  request_id_generator();
  // Writes the next id into `out`, allocating nothing.
  void next(std::span<char, made_request_id_length> out);
  std::string next();

 private:
  uint64_t next_word();
  uint64_t state_[4];
};

// A new id from this thread's generator.
void make_request_id(std::span<char, made_request_id_length> out);
std::string make_request_id();

}  // namespace bulwark::observe
