// Thousands of random mutations of a valid configuration (fixed seed): the
// loader never throws or crashes, and its answer keeps its contract: a config
// exactly when there is no error, every error positioned, in file order.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "config/loader.h"
#include "test_configs.h"

namespace bulwark::config {
namespace {

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// One random edit: YAML punctuation and awkward values where they hurt most.
std::string mutate(std::string text, std::mt19937_64& random) {
  static const std::vector<std::string> junk = {
      "[",     "]",  "{",      "}",    ":",  ": ",   "- ", ",",    "#",
      "&a ",   "*a", "!!str ", "\t",   "'",  "\"",   "~",  "null", "99999999999999999999",
      "-1",    "0",  "1.5",    "auto", "\n", "\n  ", "  ", "|",    ">",
      "---\n", "%",  "\\",     "\xff"};
  auto pick = [&](std::size_t n) { return n == 0 ? 0 : std::size_t(random() % n); };
  switch (random() % 5) {
    case 0:  // delete a run of characters
      return text.erase(pick(text.size()), 1 + pick(8));
    case 1:  // insert punctuation or an awkward value
      return text.insert(pick(text.size() + 1), junk[pick(junk.size())]);
    case 2: {  // duplicate a line
      auto lines = lines_of(text);
      const auto i = pick(lines.size());
      lines.insert(lines.begin() + std::ptrdiff_t(i), lines[i]);
      std::string joined;
      for (const auto& line : lines) joined += line + "\n";
      return joined;
    }
    case 3: {  // swap two lines
      auto lines = lines_of(text);
      std::swap(lines[pick(lines.size())], lines[pick(lines.size())]);
      std::string joined;
      for (const auto& line : lines) joined += line + "\n";
      return joined;
    }
    default:  // replace a character by a random byte
      if (!text.empty()) text[pick(text.size())] = char(random() % 256);
      return text;
  }
}

TEST(loader_robustness, random_mutations_never_throw_and_keep_the_contract) {
  std::mt19937_64 random(42);
  int valid = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string yaml(i % 2 ? test::full_yaml : test::minimal_yaml);
    const int edits = 1 + int(random() % 4);
    for (int e = 0; e < edits; ++e) yaml = mutate(yaml, random);
    load_result result;
    ASSERT_NO_THROW(result = load_string(yaml, "fuzz.yaml")) << yaml;
    ASSERT_EQ(result.ok(), result.config != nullptr) << yaml;
    valid += result.ok();
    for (std::size_t k = 0; k < result.errors.size(); ++k) {
      const error& e = result.errors[k];
      ASSERT_GE(e.line, 1) << yaml;
      ASSERT_GE(e.column, 1) << yaml;
      ASSERT_FALSE(e.message.empty()) << yaml;
      ASSERT_EQ(e.file, "fuzz.yaml");
      if (k > 0) {
        const error& before = result.errors[k - 1];
        ASSERT_LE(std::pair(before.line, before.column), std::pair(e.line, e.column)) << yaml;
      }
    }
  }
  // Mutations must not be so destructive that nothing ever loads, nor so mild
  // that everything does: both sides of the loader are exercised.
  EXPECT_GT(valid, 20);
  EXPECT_LT(valid, 2900);
}

}  // namespace
}  // namespace bulwark::config
