// log: format_log_line gives exactly one line of JSON with ts (RFC 3339, UTC,
// milliseconds), level, msg and the fields in order: strings quoted, numbers
// raw. The timestamp is checked for shape only (it is the wall clock by design).
#include "observe/log.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "unit/observe/json_lines.h"

namespace bulwark::observe {
namespace {

using nlohmann::json;
using test::parse_line;

bool is_rfc3339_millis_utc(const std::string& ts) {
  static const std::regex shape(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  return std::regex_match(ts, shape);
}

TEST(format_log_line, message_only) {
  const auto parsed = parse_line(format_log_line(log_level::info, "listening", {}));
  ASSERT_TRUE(parsed.is_object());
  EXPECT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed["level"], "info");
  EXPECT_EQ(parsed["msg"], "listening");
  ASSERT_TRUE(parsed["ts"].is_string());
  EXPECT_TRUE(is_rfc3339_millis_utc(parsed["ts"])) << parsed["ts"];
}

TEST(format_log_line, ts_comes_first) {
  EXPECT_TRUE(format_log_line(log_level::info, "x", {}).starts_with("{\"ts\":\""));
}

TEST(format_log_line, every_level_has_its_name) {
  EXPECT_EQ(parse_line(format_log_line(log_level::debug, "m", {}))["level"], "debug");
  EXPECT_EQ(parse_line(format_log_line(log_level::info, "m", {}))["level"], "info");
  EXPECT_EQ(parse_line(format_log_line(log_level::warn, "m", {}))["level"], "warn");
  EXPECT_EQ(parse_line(format_log_line(log_level::error, "m", {}))["level"], "error");
}

TEST(format_log_line, string_fields_are_quoted_and_numbers_raw) {
  const std::string address = "127.0.0.1:8080";
  const auto line = format_log_line(
      log_level::info, "listening",
      {{"listener", "public"}, {"address", address}, {"workers", 4}, {"port", 8080u},
       {"offset", -3L}, {"ratio", 0.5}});
  const auto parsed = parse_line(line);
  EXPECT_EQ(parsed["listener"], "public");
  EXPECT_EQ(parsed["address"], address);
  ASSERT_TRUE(parsed["workers"].is_number_integer()) << line;
  EXPECT_EQ(parsed["workers"], 4);
  EXPECT_EQ(parsed["port"], 8080);
  EXPECT_EQ(parsed["offset"], -3);
  ASSERT_TRUE(parsed["ratio"].is_number()) << line;
  EXPECT_DOUBLE_EQ(parsed["ratio"].get<double>(), 0.5);
  EXPECT_NE(line.find("\"workers\":4"), std::string::npos) << line;
}

TEST(format_log_line, fields_keep_their_order) {
  const auto line = format_log_line(log_level::warn, "m", {{"b", "1"}, {"a", "2"}, {"c", 3}});
  const auto b = line.find("\"b\"");
  const auto a = line.find("\"a\"");
  const auto c = line.find("\"c\"");
  ASSERT_NE(c, std::string::npos);
  EXPECT_LT(line.find("\"msg\""), b);
  EXPECT_LT(b, a);
  EXPECT_LT(a, c);
}

TEST(format_log_line, hostile_text_stays_one_valid_line) {
  const std::string nasty = "line1\nline2\r\"quoted\"\\ \x01 \xff\xfe end";
  const auto line =
      format_log_line(log_level::error, nasty, {{"key\n\"x\"", nasty}, {"peer", "\xc0\xaf"}});
  const auto parsed = parse_line(line);
  EXPECT_EQ(parsed["msg"].get<std::string>().substr(0, 11), "line1\nline2");
  EXPECT_TRUE(parsed.contains("key\n\"x\""));
  EXPECT_EQ(parsed["peer"], "\xef\xbf\xbd\xef\xbf\xbd");  // two U+FFFD
}

TEST(format_log_line, bool_field_is_json_true_or_false) {
  const auto line = format_log_line(log_level::info, "m", {{"draining", true}});
  const auto parsed = parse_line(line);
  EXPECT_EQ(parsed["draining"], true);
}

TEST(format_log_line, non_finite_number_still_gives_valid_json) {
  const auto line =
      format_log_line(log_level::info, "m", {{"rate", std::numeric_limits<double>::quiet_NaN()},
                                            {"rtt", std::numeric_limits<double>::infinity()}});
  ASSERT_TRUE(json::accept(line.substr(0, line.size() - 1))) << line;
  const auto parsed = parse_line(line);
  EXPECT_TRUE(parsed.contains("rate"));
  EXPECT_TRUE(parsed.contains("rtt"));
}

}  // namespace
}  // namespace bulwark::observe
