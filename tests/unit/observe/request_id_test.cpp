// request_id: the bounds of an acceptable client id (1..128 visible ASCII),
// the shape of generated ids (32 lowercase hex), no collisions over 100k ids
// from one generator nor across threads.
#include "observe/request_id.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace bulwark::observe {
namespace {

using namespace std::string_literals;

bool is_lowercase_hex_id(const std::string& id) {
  if (id.size() != 32) return false;
  for (const char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

TEST(is_acceptable_request_id, length_bounds) {
  EXPECT_FALSE(is_acceptable_request_id(""));
  EXPECT_TRUE(is_acceptable_request_id("a"));
  EXPECT_TRUE(is_acceptable_request_id(std::string(max_request_id_length, 'x')));
  EXPECT_EQ(max_request_id_length, 128u);
  EXPECT_FALSE(is_acceptable_request_id(std::string(max_request_id_length + 1, 'x')));
}

TEST(is_acceptable_request_id, visible_ascii_accepted) {
  EXPECT_TRUE(is_acceptable_request_id("req-123_ABC.xyz"));
  EXPECT_TRUE(is_acceptable_request_id("0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_TRUE(is_acceptable_request_id("!~"));  // the ends of the visible range
}

TEST(is_acceptable_request_id, space_and_controls_refused) {
  EXPECT_FALSE(is_acceptable_request_id("a b"));
  EXPECT_FALSE(is_acceptable_request_id("a\tb"));
  EXPECT_FALSE(is_acceptable_request_id("a\r\nX-Injected: 1"));
  EXPECT_FALSE(is_acceptable_request_id("a\0b"s));
  EXPECT_FALSE(is_acceptable_request_id("a\x7f"));
  EXPECT_FALSE(is_acceptable_request_id("a\x1f"));
}

TEST(is_acceptable_request_id, non_ascii_refused) {
  EXPECT_FALSE(is_acceptable_request_id("caf\xc3\xa9"));
  EXPECT_FALSE(is_acceptable_request_id("\x80"));
  EXPECT_FALSE(is_acceptable_request_id("\xff"));
}

TEST(request_id_generator, ids_are_32_lowercase_hex_and_acceptable) {
  request_id_generator generator;
  for (int i = 0; i < 1000; ++i) {
    const auto id = generator.next();
    ASSERT_TRUE(is_lowercase_hex_id(id)) << id;
    ASSERT_TRUE(is_acceptable_request_id(id)) << id;
  }
}

TEST(request_id_generator, hundred_thousand_ids_are_distinct) {
  request_id_generator generator;
  std::unordered_set<std::string> seen;
  constexpr int count = 100'000;
  seen.reserve(count);
  for (int i = 0; i < count; ++i) seen.insert(generator.next());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(count));
}

TEST(request_id_generator, every_hex_digit_position_varies) {
  // A stuck nibble (e.g. a word only half used) would show as a constant column.
  request_id_generator generator;
  const auto first = generator.next();
  std::vector<bool> varied(32, false);
  for (int i = 0; i < 200; ++i) {
    const auto id = generator.next();
    for (std::size_t k = 0; k < 32; ++k) varied[k] = varied[k] || id[k] != first[k];
  }
  for (std::size_t k = 0; k < 32; ++k) EXPECT_TRUE(varied[k]) << "position " << k;
}

TEST(request_id_generator, two_generators_give_different_ids) {
  request_id_generator a;
  request_id_generator b;
  EXPECT_NE(a.next(), b.next());
}

TEST(make_request_id, works_from_several_threads_without_collisions) {
  constexpr int threads = 4;
  constexpr int per_thread = 5'000;
  std::vector<std::vector<std::string>> ids(threads);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&ids, t] {
      ids[t].reserve(per_thread);
      for (int i = 0; i < per_thread; ++i) ids[t].push_back(make_request_id());
    });
  }
  for (auto& worker : workers) worker.join();

  std::unordered_set<std::string> seen;
  for (const auto& batch : ids) {
    ASSERT_EQ(batch.size(), static_cast<std::size_t>(per_thread));
    for (const auto& id : batch) {
      ASSERT_TRUE(is_lowercase_hex_id(id)) << id;
      seen.insert(id);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(threads * per_thread));
}

}  // namespace
}  // namespace bulwark::observe
