// Retry-After: delay-seconds, the three HTTP-date forms of RFC 9110 §5.6.7,
// garbage, overflow, dates in the past; and the bounded honouring rule.
#include "core/retry_after.h"

#include <gtest/gtest.h>

namespace bulwark::core {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

system_clock::time_point wall(year_month_day date, seconds time_of_day = 0s) {
  return system_clock::time_point{sys_days{date} + time_of_day};
}

// 1994-11-06 08:49:00 UTC: the RFC's example dates are 37 s later.
const system_clock::time_point rfc_now = wall(1994y / November / 6, 8h + 49min);

TEST(retry_after, delay_seconds) {
  EXPECT_EQ(parse_retry_after("120", rfc_now), duration{120s});
  EXPECT_EQ(parse_retry_after("0", rfc_now), duration{0s});
  EXPECT_EQ(parse_retry_after("007", rfc_now), duration{7s});
  EXPECT_EQ(parse_retry_after(" \t5 ", rfc_now), duration{5s});
}

TEST(retry_after, delay_seconds_overflow_saturates_at_two_to_the_31_seconds) {
  EXPECT_EQ(parse_retry_after("2147483647", rfc_now), duration{2147483647s});
  EXPECT_EQ(parse_retry_after("2147483648", rfc_now), max_retry_after);
  EXPECT_EQ(parse_retry_after("2147483649", rfc_now), max_retry_after);
  EXPECT_EQ(parse_retry_after("99999999999999999999999999999999", rfc_now), max_retry_after);
}

TEST(retry_after, garbage_is_invalid) {
  for (const char* value : {"",
                            " ",
                            "-1",
                            "+1",
                            "1.5",
                            "12a",
                            "1 2",
                            "0x10",
                            "abc",
                            "soon",
                            "1e3",
                            "Sun",
                            "Sun,",
                            "Sun, 06 Nov 1994 08:49:37",
                            "Sun, 06 Nov 1994 08:49:37 UTC",
                            "sun, 06 Nov 1994 08:49:37 GMT",
                            "Sun, 06 nov 1994 08:49:37 GMT",
                            "Sun, 6 Nov 1994 08:49:37 GMT",
                            "Sun,06 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nov 94 08:49:37 GMT",
                            "Sun, 06 Nov 1994 08:49:37 GMT x",
                            "Sun, 06 Nov 1994 8:49:37 GMT",
                            "Sunday, 06 Nov 1994 08:49:37 GMT",
                            "Sun, 06-Nov-94 08:49:37 GMT",
                            "Sunday, 06-Nov-1994 08:49:37 GMT",
                            "Sun Nov 6 08:49:37 1994",
                            "Sun Nov  6 08:49:37 94",
                            "Sun Nov  6 08:49:37 1994 GMT",
                            "Sun, 31 Feb 1994 08:49:37 GMT",
                            "Sun, 00 Nov 1994 08:49:37 GMT",
                            "Sun, 06 Nov 1994 24:00:00 GMT",
                            "Sun, 06 Nov 1994 08:60:00 GMT",
                            "Sun, 06 Nov 1994 08:49:61 GMT",
                            "Xyz, 06 Nov 1994 08:49:37 GMT"}) {
    EXPECT_EQ(parse_retry_after(value, rfc_now), std::nullopt) << '"' << value << '"';
  }
}

TEST(retry_after, imf_fixdate) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_now), duration{37s});
  // Sub-second precision of `now` is kept.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_now + 250ms), duration{36750ms});
  EXPECT_EQ(parse_retry_after("  Mon, 07 Nov 1994 08:49:00 GMT ", rfc_now), duration{24h});
}

TEST(retry_after, rfc850_date) {
  EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", rfc_now), duration{37s});
}

TEST(retry_after, rfc850_two_digit_year_is_at_most_50_years_ahead) {
  const auto now = wall(2030y / January / 1);
  const duration fifty_years = sys_days{2080y / January / 1} - sys_days{2030y / January / 1};
  EXPECT_EQ(parse_retry_after("Monday, 01-Jan-80 00:00:00 GMT", now), fifty_years);
  // 2081 would be more than 50 years ahead: it is 1981, in the past.
  EXPECT_EQ(parse_retry_after("Thursday, 01-Jan-81 00:00:00 GMT", now), duration::zero());
  EXPECT_EQ(parse_retry_after("Tuesday, 01-Jan-30 00:00:10 GMT", now), duration{10s});
}

TEST(retry_after, asctime_date) {
  EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:37 1994", rfc_now), duration{37s});
  EXPECT_EQ(parse_retry_after("Wed Nov 16 08:49:00 1994", rfc_now), duration{10 * 24h});
}

TEST(retry_after, dates_in_the_past_give_zero) {
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:48:00 GMT", rfc_now), duration::zero());
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", rfc_now + 1ns), duration::zero());
  EXPECT_EQ(parse_retry_after("Sat, 01 Jan 0000 00:00:00 GMT", rfc_now), duration::zero());
}

TEST(retry_after, far_dates_saturate_instead_of_overflowing) {
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", rfc_now), max_retry_after);
}

TEST(retry_after, leap_second_and_leap_day) {
  const auto now = wall(2016y / December / 31, 23h + 59min + 59s);
  EXPECT_EQ(parse_retry_after("Sat, 31 Dec 2016 23:59:60 GMT", now), duration{1s});
  EXPECT_EQ(parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", now).has_value(), true);
  EXPECT_EQ(parse_retry_after("Wed, 29 Feb 2023 00:00:00 GMT", now), std::nullopt);
}

TEST(honored_delay, waits_for_the_longer_of_retry_after_and_backoff) {
  EXPECT_EQ(honored_delay(std::nullopt, 100ms, 1s), duration{100ms});
  EXPECT_EQ(honored_delay(duration{2s}, 100ms, 10s), duration{2s});
  EXPECT_EQ(honored_delay(duration{50ms}, 100ms, 1s), duration{100ms});
  EXPECT_EQ(honored_delay(duration{0s}, 0ms, 1s), duration{0s});
}

TEST(honored_delay, no_retry_when_the_wait_does_not_fit_the_time_left) {
  EXPECT_EQ(honored_delay(duration{2s}, 100ms, 1s), std::nullopt);
  EXPECT_EQ(honored_delay(std::nullopt, 1s, 1s), std::nullopt);  // nothing left to try with
  EXPECT_EQ(honored_delay(std::nullopt, 0ms, 0ms), std::nullopt);
  EXPECT_EQ(honored_delay(std::nullopt, 10ms, -5ms), std::nullopt);
  EXPECT_EQ(honored_delay(max_retry_after, 10ms, 1h), std::nullopt);
}

}  // namespace
}  // namespace bulwark::core
