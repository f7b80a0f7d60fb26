// Shared by the observe tests that read their output back as JSON lines (the
// log and the access log).
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace bulwark::observe::test {

// The line without its final newline, parsed; fails the test when the line is
// not exactly one line ending in "\n".
inline nlohmann::json parse_line(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "more than one line: " << line;
  return nlohmann::json::parse(line.substr(0, line.size() - 1));
}

}  // namespace bulwark::observe::test
