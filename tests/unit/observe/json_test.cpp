// json: escaping of ASCII specials and control characters, valid UTF-8 kept
// byte for byte, every kind of invalid UTF-8 replaced with \ufffd, and a
// property over random bytes: whatever a client sends, the output is a JSON
// string that a strict parser (nlohmann, which rejects ill-formed UTF-8) accepts.
#include "observe/json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>

namespace bulwark::observe {
namespace {

using namespace std::string_literals;

std::string escaped(std::string_view text) {
  std::string out;
  append_json_escaped(out, text);
  return out;
}

// The value a strict JSON parser reads back from json_quote(text).
std::string round_trip(std::string_view text) {
  return nlohmann::json::parse(json_quote(text)).get<std::string>();
}

TEST(json_escape, plain_ascii_is_unchanged) {
  EXPECT_EQ(escaped("GET /api/v1?x=1&y=2"), "GET /api/v1?x=1&y=2");
  EXPECT_EQ(escaped(""), "");
}

TEST(json_escape, appends_to_what_is_already_there) {
  std::string out = "prefix:";
  append_json_escaped(out, "a\"b");
  EXPECT_EQ(out, "prefix:a\\\"b");
}

TEST(json_escape, quote_and_backslash) {
  EXPECT_EQ(escaped("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(escaped("C:\\path\\"), "C:\\\\path\\\\");
  EXPECT_EQ(json_quote("\"\\"), "\"\\\"\\\\\"");
}

TEST(json_escape, short_forms_for_newline_return_and_tab) {
  EXPECT_EQ(escaped("a\nb\rc\td"), "a\\nb\\rc\\td");
}

TEST(json_escape, other_control_characters_use_u_escapes) {
  EXPECT_EQ(escaped("\x01"), "\\u0001");
  EXPECT_EQ(escaped("\x1f"), "\\u001f");
  EXPECT_EQ(escaped("\b\f"), "\\u0008\\u000c");
  EXPECT_EQ(escaped("a\0b"s), "a\\u0000b");
}

TEST(json_escape, del_is_escaped) { EXPECT_EQ(escaped("\x7f"), "\\u007f"); }

TEST(json_escape, every_ascii_byte_round_trips) {
  std::string all;
  for (int c = 0; c < 0x80; ++c) all += static_cast<char>(c);
  EXPECT_EQ(round_trip(all), all);
}

TEST(json_escape, valid_multibyte_utf8_is_kept_verbatim) {
  const std::string samples[] = {
      "\xc3\xa9",          // é, 2 bytes
      "\xc2\x80",          // U+0080, smallest 2-byte
      "\xdf\xbf",          // U+07FF, largest 2-byte
      "\xe0\xa0\x80",      // U+0800, smallest 3-byte
      "\xe2\x82\xac",      // €
      "\xed\x9f\xbf",      // U+D7FF, just below the surrogates
      "\xee\x80\x80",      // U+E000, just above them
      "\xef\xbf\xbf",      // U+FFFF
      "\xf0\x90\x80\x80",  // U+10000, smallest 4-byte
      "\xf0\x9f\x98\x80",  // 😀
      "\xf4\x8f\xbf\xbf",  // U+10FFFF, the largest code point
  };
  for (const auto& sample : samples) {
    EXPECT_EQ(escaped(sample), sample);
    EXPECT_EQ(round_trip(sample), sample);
  }
  EXPECT_EQ(escaped("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
}

struct invalid_case {
  const char* what;
  std::string input;
  std::string expected;
};

TEST(json_escape, invalid_utf8_is_replaced_byte_by_byte) {
  const invalid_case cases[] = {
      {"lone continuation byte", "a\x80z", "a\\ufffdz"},
      {"lone last continuation byte", "\xbf", "\\ufffd"},
      {"overlong 2-byte (C0)", "\xc0\xaf", "\\ufffd\\ufffd"},
      {"overlong 2-byte (C1)", "\xc1\xbf", "\\ufffd\\ufffd"},
      {"overlong 3-byte", "\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"},
      {"overlong 4-byte", "\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd"},
      {"high surrogate", "\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},
      {"low surrogate", "\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd"},
      {"above U+10FFFF (F4 90)", "\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
      {"lead byte F5", "\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},
      {"lead byte FF", "\xff", "\\ufffd"},
      {"truncated at the end", "x\xe2\x82", "x\\ufffd\\ufffd"},
      {"truncated 4-byte at the end", "\xf0\x9f\x98", "\\ufffd\\ufffd\\ufffd"},
      {"truncated before ASCII", "\xe2\x82" "A", "\\ufffd\\ufffdA"},
      {"truncated before a valid sequence", "\xc3\xc3\xa9", "\\ufffd\xc3\xa9"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(escaped(c.input), c.expected) << c.what;
    EXPECT_NO_THROW(round_trip(c.input)) << c.what;
  }
}

TEST(json_escape, the_raw_invalid_bytes_would_be_refused_by_the_parser) {
  // Guards the property below: the strict parser really rejects ill-formed UTF-8.
  EXPECT_THROW(nlohmann::json::parse("\"\xed\xa0\x80\""), nlohmann::json::parse_error);
  EXPECT_THROW(nlohmann::json::parse("\"\xc0\xaf\""), nlohmann::json::parse_error);
}

std::string random_bytes(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> length(0, 40);
  // Bias towards the interesting ranges: controls, quote/backslash, UTF-8 leads
  // and continuations, as well as uniform bytes.
  std::uniform_int_distribution<int> any_byte(0, 255);
  std::uniform_int_distribution<int> pick(0, 3);
  const char specials[] = {'"', '\\', '\x7f', '\x00', '\n', '\xc0', '\xed', '\xf4', '\xe0'};
  std::uniform_int_distribution<std::size_t> special(0, sizeof specials - 1);
  std::uniform_int_distribution<int> continuation(0x80, 0xBF);
  std::string bytes;
  for (int n = length(rng); n > 0; --n) {
    switch (pick(rng)) {
      case 0: bytes += specials[special(rng)]; break;
      case 1: bytes += static_cast<char>(continuation(rng)); break;
      default: bytes += static_cast<char>(any_byte(rng)); break;
    }
  }
  return bytes;
}

TEST(json_escape, property_random_bytes_always_give_a_valid_json_string) {
  std::mt19937_64 rng(20240611);
  for (int i = 0; i < 20000; ++i) {
    const std::string input = random_bytes(rng);
    const std::string quoted = json_quote(input);
    nlohmann::json parsed;
    ASSERT_NO_THROW(parsed = nlohmann::json::parse(quoted)) << "input #" << i << ": " << quoted;
    ASSERT_TRUE(parsed.is_string()) << quoted;
  }
}

std::string utf8(uint32_t cp) {
  const auto byte = [](uint32_t b) { return static_cast<char>(b); };
  if (cp < 0x80) return {byte(cp)};
  if (cp < 0x800) return {byte(0xC0 | cp >> 6), byte(0x80 | (cp & 0x3F))};
  if (cp < 0x10000) {
    return {byte(0xE0 | cp >> 12), byte(0x80 | ((cp >> 6) & 0x3F)), byte(0x80 | (cp & 0x3F))};
  }
  return {byte(0xF0 | cp >> 18), byte(0x80 | ((cp >> 12) & 0x3F)),
          byte(0x80 | ((cp >> 6) & 0x3F)), byte(0x80 | (cp & 0x3F))};
}

TEST(json_escape, property_valid_utf8_round_trips_exactly) {
  // Random code points (surrogates skipped) encoded as UTF-8 come back unchanged.
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint32_t> code_point(0, 0x10FFFF);
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    for (int k = 0; k < 8; ++k) {
      uint32_t cp = code_point(rng);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
      text += utf8(cp);
    }
    ASSERT_EQ(round_trip(text), text);
  }
}

}  // namespace
}  // namespace bulwark::observe
