#include "core/retry_after.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace bulwark::core {
namespace {

using std::chrono::seconds;
using std::chrono::sys_seconds;

constexpr std::int64_t max_seconds = std::chrono::duration_cast<seconds>(max_retry_after).count();

constexpr std::array<std::string_view, 7> short_days{"Mon", "Tue", "Wed", "Thu",
                                                     "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> long_days{"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

template <std::size_t N>
bool is_one_of(std::string_view word, const std::array<std::string_view, N>& names) {
  for (auto name : names) {
    if (word == name) return true;
  }
  return false;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A forward-only reader over the header value; every step fails softly.
class cursor {
 public:
  explicit cursor(std::string_view text) : text_(text) {}

  bool at_end() const { return text_.empty(); }

  bool literal(std::string_view expected) {
    if (!text_.starts_with(expected)) return false;
    text_.remove_prefix(expected.size());
    return true;
  }

  std::string_view word() {
    std::size_t n = 0;
    while (n < text_.size() && is_alpha(text_[n])) ++n;
    const std::string_view result = text_.substr(0, n);
    text_.remove_prefix(n);
    return result;
  }

  // Exactly `count` digits.
  std::optional<int> number(std::size_t count) {
    if (text_.size() < count) return std::nullopt;
    int value = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (!is_digit(text_[i])) return std::nullopt;
      value = value * 10 + (text_[i] - '0');
    }
    text_.remove_prefix(count);
    return value;
  }

  // 1-based month from its three-letter name.
  std::optional<unsigned> month() {
    for (unsigned i = 0; i < months.size(); ++i) {
      if (literal(months[i])) return i + 1;
    }
    return std::nullopt;
  }

 private:
  std::string_view text_;
};

struct civil_time {
  int year = 0;
  unsigned month = 0;
  int day = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
};

// time-of-day = hour ":" minute ":" second; second 60 is a leap second.
bool read_time_of_day(cursor& in, civil_time& t) {
  const auto hour = in.number(2);
  if (!hour || !in.literal(":")) return false;
  const auto minute = in.number(2);
  if (!minute || !in.literal(":")) return false;
  const auto second = in.number(2);
  if (!second || *hour > 23 || *minute > 59 || *second > 60) return false;
  t.hour = *hour;
  t.minute = *minute;
  t.second = *second;
  return true;
}

std::optional<sys_seconds> to_sys_seconds(const civil_time& t) {
  const std::chrono::year_month_day date{std::chrono::year{t.year}, std::chrono::month{t.month},
                                         std::chrono::day{static_cast<unsigned>(t.day)}};
  if (!date.ok()) return std::nullopt;
  return std::chrono::sys_days{date} + std::chrono::hours{t.hour} + std::chrono::minutes{t.minute} +
         seconds{t.second};
}

// IMF-fixdate after "Sun,": SP 2DIGIT SP month SP 4DIGIT SP time-of-day SP "GMT".
bool read_imf_fixdate(cursor& in, civil_time& t) {
  if (!in.literal(" ")) return false;
  const auto day = in.number(2);
  if (!day || !in.literal(" ")) return false;
  const auto month = in.month();
  if (!month || !in.literal(" ")) return false;
  const auto year = in.number(4);
  if (!year || !in.literal(" ") || !read_time_of_day(in, t)) return false;
  t.day = *day;
  t.month = *month;
  t.year = *year;
  return in.literal(" GMT");
}

// The year ending in `two_digits` that lies in (now - 50, now + 50] years.
int full_year(int two_digits, int now_year) {
  int year = now_year - now_year % 100 + two_digits;
  if (year > now_year + 50) year -= 100;
  if (year <= now_year - 50) year += 100;
  return year;
}

// rfc850-date after "Sunday,": SP 2DIGIT "-" month "-" 2DIGIT SP time-of-day SP "GMT".
bool read_rfc850_date(cursor& in, civil_time& t, int now_year) {
  if (!in.literal(" ")) return false;
  const auto day = in.number(2);
  if (!day || !in.literal("-")) return false;
  const auto month = in.month();
  if (!month || !in.literal("-")) return false;
  const auto year = in.number(2);
  if (!year || !in.literal(" ") || !read_time_of_day(in, t)) return false;
  t.day = *day;
  t.month = *month;
  t.year = full_year(*year, now_year);
  return in.literal(" GMT");
}

// asctime-date after "Sun": SP month SP (2DIGIT / SP DIGIT) SP time-of-day SP 4DIGIT.
bool read_asctime_date(cursor& in, civil_time& t) {
  if (!in.literal(" ")) return false;
  const auto month = in.month();
  if (!month || !in.literal(" ")) return false;
  const auto day = in.literal(" ") ? in.number(1) : in.number(2);
  if (!day || !in.literal(" ") || !read_time_of_day(in, t) || !in.literal(" ")) return false;
  const auto year = in.number(4);
  if (!year) return false;
  t.day = *day;
  t.month = *month;
  t.year = *year;
  return true;
}

std::optional<sys_seconds> parse_http_date(std::string_view text, int now_year) {
  cursor in{text};
  const std::string_view day_name = in.word();
  civil_time t;
  bool ok = false;
  if (is_one_of(day_name, short_days)) {
    ok = in.literal(",") ? read_imf_fixdate(in, t) : read_asctime_date(in, t);
  } else if (is_one_of(day_name, long_days)) {
    ok = in.literal(",") && read_rfc850_date(in, t, now_year);
  }
  if (!ok || !in.at_end()) return std::nullopt;
  return to_sys_seconds(t);
}

// delay-seconds = 1*DIGIT, saturating at max_seconds.
std::optional<std::int64_t> parse_delay_seconds(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (!is_digit(c)) return std::nullopt;
    value = std::min(max_seconds + 1, value * 10 + (c - '0'));
  }
  return std::min(value, max_seconds);
}

}  // namespace

std::optional<duration> parse_retry_after(std::string_view value,
                                          std::chrono::system_clock::time_point now) {
  value = trim(value);
  if (!value.empty() && is_digit(value.front())) {
    const auto delay = parse_delay_seconds(value);
    if (!delay) return std::nullopt;
    return duration{seconds{*delay}};
  }

  const auto now_seconds = std::chrono::floor<seconds>(now);
  const std::chrono::year_month_day today{std::chrono::floor<std::chrono::days>(now)};
  const auto when = parse_http_date(value, static_cast<int>(today.year()));
  if (!when) return std::nullopt;

  // Whole seconds first, so that a year-0 or year-9999 date cannot overflow
  // nanoseconds.
  const std::int64_t ahead =
      when->time_since_epoch().count() - now_seconds.time_since_epoch().count();
  if (ahead <= 0) return duration::zero();
  if (ahead > max_seconds) return max_retry_after;
  const auto wait = std::chrono::duration_cast<duration>(seconds{ahead} - (now - now_seconds));
  return std::max(duration::zero(), wait);
}

std::optional<duration> honored_delay(std::optional<duration> retry_after,
                                      duration computed_backoff, duration time_left) {
  const duration wait = retry_after ? std::max(*retry_after, computed_backoff) : computed_backoff;
  if (wait >= time_left) return std::nullopt;
  return wait;
}

}  // namespace bulwark::core
