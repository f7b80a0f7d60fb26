// Durations, sizes and rates (core/units.h): valid forms, bounds, overflow and
// the message for every kind of malformed input.
#include "core/units.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <random>

namespace bulwark::core {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view duration_expected = "expected a duration like 250ms, 5s, 2m or 1h";
constexpr std::string_view size_expected = "expected a size like 512, 16KiB or 10MiB";
constexpr std::string_view rate_expected = "expected a rate like 100/s, 5/min or 1000/h";

std::string with(std::string_view detail, std::string_view expected) {
  return std::string(detail) + "; " + std::string(expected);
}

TEST(units_duration, reads_every_unit) {
  EXPECT_EQ(parse_duration("250ms").value, duration(250ms));
  EXPECT_EQ(parse_duration("5s").value, duration(5s));
  EXPECT_EQ(parse_duration("2m").value, duration(2min));
  EXPECT_EQ(parse_duration("1h").value, duration(1h));
  EXPECT_EQ(parse_duration("90d").value, duration(90 * 24h));
  EXPECT_EQ(parse_duration("007s").value, duration(7s));
}

TEST(units_duration, zero_needs_no_unit) {
  EXPECT_EQ(parse_duration("0").value, duration::zero());
  EXPECT_EQ(parse_duration("0s").value, duration::zero());
  EXPECT_EQ(parse_duration("000").value, duration::zero());
}

TEST(units_duration, largest_value_fits_and_the_next_is_an_error) {
  EXPECT_EQ(parse_duration("2562047h").value, duration(2562047h));
  EXPECT_EQ(parse_duration("9223372036854ms").value, duration(9223372036854ms));
  const std::string too_large = "too large; a duration must be at most 2562047h";
  EXPECT_EQ(parse_duration("2562048h").error, too_large);
  EXPECT_EQ(parse_duration("9223372037s").error, too_large);
  EXPECT_EQ(parse_duration("106752d").error, too_large);
  EXPECT_EQ(parse_duration("99999999999999999999999ms").error, too_large);
}

TEST(units_duration, explains_each_malformed_input) {
  const std::map<std::string, std::string> cases = {
      {"", std::string(duration_expected)},
      {"s", std::string(duration_expected)},
      {"+5s", std::string(duration_expected)},
      {" 5s", std::string(duration_expected)},
      {"five seconds", std::string(duration_expected)},
      {"5", with("missing unit", duration_expected)},
      {"-5s", with("must not be negative", duration_expected)},
      {"1.5s",
       with("fractions are not supported: write 1500ms rather than 1.5s", duration_expected)},
      {"5 s", with("no space is allowed between the number and its unit", duration_expected)},
      {"5sec", with("unknown unit `sec`", duration_expected)},
      {"5S", with("unknown unit `S`", duration_expected)},
      {"5us", with("unknown unit `us`", duration_expected)},
      {"1h30m", with("unknown unit `h30m`", duration_expected)},
      {"5s ", with("unknown unit `s `", duration_expected)},
  };
  for (const auto& [text, message] : cases) {
    const auto result = parse_duration(text);
    EXPECT_FALSE(result.ok()) << text;
    EXPECT_EQ(result.error, message) << text;
  }
}

TEST(units_size, reads_bytes_and_binary_units) {
  EXPECT_EQ(parse_size("0").value, 0u);
  EXPECT_EQ(parse_size("512").value, 512u);
  EXPECT_EQ(parse_size("16KiB").value, 16u * 1024);
  EXPECT_EQ(parse_size("10MiB").value, 10u * 1024 * 1024);
  EXPECT_EQ(parse_size("1GiB").value, uint64_t{1} << 30);
  EXPECT_EQ(parse_size("2TiB").value, uint64_t{2} << 40);
}

TEST(units_size, largest_value_fits_and_the_next_is_an_error) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(parse_size("18446744073709551615").value, max);
  EXPECT_EQ(parse_size("16777215TiB").value, uint64_t{16777215} << 40);
  const std::string too_large = "too large; a size must be at most 16777215TiB";
  EXPECT_EQ(parse_size("18446744073709551616").error, too_large);
  EXPECT_EQ(parse_size("16777216TiB").error, too_large);
}

TEST(units_size, refuses_decimal_units_with_a_hint) {
  EXPECT_EQ(parse_size("16KB").error,
            "sizes use binary units: write 16KiB (16 x 1024 bytes), not 16KB");
  EXPECT_EQ(parse_size("16k").error,
            "sizes use binary units: write 16KiB (16 x 1024 bytes), not 16k");
  EXPECT_EQ(parse_size("10MB").error,
            "sizes use binary units: write 10MiB (10 x 1024^2 bytes), not 10MB");
  EXPECT_EQ(parse_size("1G").error,
            "sizes use binary units: write 1GiB (1 x 1024^3 bytes), not 1G");
  EXPECT_EQ(parse_size("5tb").error,
            "sizes use binary units: write 5TiB (5 x 1024^4 bytes), not 5tb");
  EXPECT_EQ(parse_size("16kib").error,
            "sizes use binary units: write 16KiB (16 x 1024 bytes), not 16kib");
}

TEST(units_size, explains_each_malformed_input) {
  const std::map<std::string, std::string> cases = {
      {"", std::string(size_expected)},
      {"KiB", std::string(size_expected)},
      {"-1", with("must not be negative", size_expected)},
      {"1.5MiB",
       with("fractions are not supported: write 1536KiB rather than 1.5MiB", size_expected)},
      {"16 KiB", with("no space is allowed between the number and its unit", size_expected)},
      {"16B", with("unknown unit `B`", size_expected)},
      {"5ms", with("unknown unit `ms`", size_expected)},
      {"16KiBs", with("unknown unit `KiBs`", size_expected)},
  };
  for (const auto& [text, message] : cases) {
    const auto result = parse_size(text);
    EXPECT_FALSE(result.ok()) << text;
    EXPECT_EQ(result.error, message) << text;
  }
}

TEST(units_rate, reads_count_per_period) {
  EXPECT_EQ(parse_rate("100/s").value, (rate{100, 1s}));
  EXPECT_EQ(parse_rate("5/min").value, (rate{5, 1min}));
  EXPECT_EQ(parse_rate("1000/h").value, (rate{1000, 1h}));
  EXPECT_EQ(parse_rate("18446744073709551615/s").value,
            (rate{std::numeric_limits<uint64_t>::max(), 1s}));
}

TEST(units_rate, explains_each_malformed_input) {
  const std::map<std::string, std::string> cases = {
      {"", std::string(rate_expected)},
      {"5", std::string(rate_expected)},
      {"/s", std::string(rate_expected)},
      {"5/", std::string(rate_expected)},
      {"-5/s", with("must not be negative", rate_expected)},
      {"0/s", with("a rate must be at least 1", rate_expected)},
      {"1.5/s", with("fractions are not supported: write 90/min rather than 1.5/s", rate_expected)},
      {"5 /s", with("no space is allowed between the number and its unit", rate_expected)},
      {"5/m", with("write /min for a rate per minute", rate_expected)},
      {"5/sec", with("unknown unit `sec`", rate_expected)},
      {"5/min/s", with("unknown unit `min/s`", rate_expected)},
      {"18446744073709551616/s",
       "too large; the count of a rate must be at most 18446744073709551615"},
  };
  for (const auto& [text, message] : cases) {
    const auto result = parse_rate(text);
    EXPECT_FALSE(result.ok()) << text;
    EXPECT_EQ(result.error, message) << text;
  }
}

TEST(units_format, picks_the_largest_exact_unit) {
  EXPECT_EQ(format_duration(duration::zero()), "0");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(2min), "2m");
  EXPECT_EQ(format_duration(48h), "2d");
  EXPECT_EQ(format_duration(-5s), "-5s");
  EXPECT_EQ(format_duration(1ns), "1ns");
  EXPECT_EQ(format_duration(duration::min()), "-9223372036854775808ns");
}

// Whatever the text, a result is either a value with no error or an error with
// no value; and every formatted whole-millisecond duration parses back to itself.
TEST(units_random, random_text_never_breaks_the_contract) {
  std::mt19937_64 random(20240601);
  const std::string alphabet = "0123456789msdhKMGTiB/inu.- x";
  for (int i = 0; i < 20000; ++i) {
    std::string text(random() % 12, ' ');
    for (char& c : text) c = alphabet[random() % alphabet.size()];
    const auto d = parse_duration(text);
    const auto s = parse_size(text);
    const auto r = parse_rate(text);
    EXPECT_NE(d.ok(), !d.error.empty()) << text;
    EXPECT_NE(s.ok(), !s.error.empty()) << text;
    EXPECT_NE(r.ok(), !r.error.empty()) << text;
    if (d.ok()) {
      EXPECT_GE(d.value->count(), 0) << text;
    }
  }
  for (int i = 0; i < 20000; ++i) {
    const duration value = std::chrono::milliseconds(random() % (uint64_t{1} << 42));
    EXPECT_EQ(parse_duration(format_duration(value)).value, value);
  }
}

}  // namespace
}  // namespace bulwark::core
