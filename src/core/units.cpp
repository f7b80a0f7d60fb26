// Durations, sizes and rates; the grammar and its reasons are in units.h.
#include "core/units.h"

#include <array>
#include <charconv>
#include <limits>

namespace bulwark::core {
namespace {

constexpr std::string_view duration_expected = "expected a duration like 250ms, 5s, 2m or 1h";
constexpr std::string_view size_expected = "expected a size like 512, 16KiB or 10MiB";
constexpr std::string_view rate_expected = "expected a rate like 100/s, 5/min or 1000/h";

struct unit {
  std::string_view name;
  uint64_t factor;  // in nanoseconds for durations, bytes for sizes
};

constexpr uint64_t ns_per_second = 1'000'000'000;
constexpr std::array duration_units{
    unit{"ms", 1'000'000},
    unit{"s", ns_per_second},
    unit{"m", 60 * ns_per_second},
    unit{"h", 3600 * ns_per_second},
    unit{"d", 86400 * ns_per_second},
};
constexpr std::array size_units{
    unit{"", 1},
    unit{"KiB", uint64_t{1} << 10},
    unit{"MiB", uint64_t{1} << 20},
    unit{"GiB", uint64_t{1} << 30},
    unit{"TiB", uint64_t{1} << 40},
};
constexpr std::array rate_units{
    unit{"s", ns_per_second},
    unit{"min", 60 * ns_per_second},
    unit{"h", 3600 * ns_per_second},
};

// "250ms" -> {"250", "ms"}: the leading digits and everything after them.
struct number_and_unit {
  std::string_view digits;
  std::string_view unit;
};

number_and_unit split_number(std::string_view text) {
  std::size_t end = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  return {text.substr(0, end), text.substr(end)};
}

template <std::size_t N>
const unit* find_unit(const std::array<unit, N>& units, std::string_view name) {
  for (const unit& u : units) {
    if (u.name == name) return &u;
  }
  return nullptr;
}

// `digits` is non-empty and only digits; nullopt when it does not fit.
std::optional<uint64_t> to_integer(std::string_view digits) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::optional<uint64_t> checked_multiply(uint64_t a, uint64_t b, uint64_t limit) {
  if (b != 0 && a > limit / b) return std::nullopt;
  return a * b;
}

std::string with(std::string_view detail, std::string_view expected) {
  std::string message(detail);
  message += "; ";
  message += expected;
  return message;
}

// The explanation for a text whose number part is missing or not a whole number,
// shared by the three kinds so that they word the same mistake the same way.
std::string malformed(std::string_view text, const number_and_unit& parts,
                      std::string_view expected, std::string_view fraction_hint) {
  if (!text.empty() && text.front() == '-') return with("must not be negative", expected);
  if (!parts.digits.empty() && parts.unit.size() > 1 && parts.unit.front() == '.' &&
      parts.unit[1] >= '0' && parts.unit[1] <= '9') {
    return with(fraction_hint, expected);
  }
  if (!parts.digits.empty() && !parts.unit.empty() && parts.unit.front() == ' ') {
    return with("no space is allowed between the number and its unit", expected);
  }
  return std::string(expected);
}

bool is_malformed_unit(std::string_view unit) {
  return !unit.empty() && (unit.front() == '.' || unit.front() == ' ');
}

std::string unknown_unit(std::string_view unit, std::string_view expected) {
  std::string detail = "unknown unit `";
  detail += unit;
  detail += '`';
  return with(detail, expected);
}

// "16KB", "16k", "16mb": the user meant a size unit, but a decimal or ambiguous one.
std::optional<std::string> binary_unit_hint(std::string_view digits, std::string_view unit) {
  constexpr std::string_view prefixes = "KMGT";
  const char first =
      unit.front() >= 'a' && unit.front() <= 'z' ? char(unit.front() - 'a' + 'A') : unit.front();
  const bool looks_like_size =
      unit.size() == 1 ||
      (unit.size() <= 3 && std::string_view("iIbB").find(unit[1]) != std::string_view::npos);
  if (prefixes.find(first) == std::string_view::npos || !looks_like_size) return std::nullopt;
  std::string hint = "sizes use binary units: write ";
  hint.append(digits).append(1, first).append("iB (").append(digits).append(" x 1024");
  if (first != 'K') hint.append("^").append(std::to_string(prefixes.find(first) + 1));
  hint.append(" bytes), not ").append(digits).append(unit);
  return hint;
}

}  // namespace

parsed<duration> parse_duration(std::string_view text) {
  using result = parsed<duration>;
  const auto parts = split_number(text);
  if (parts.digits.empty() || is_malformed_unit(parts.unit)) {
    return result::failure(malformed(text, parts, duration_expected,
                                     "fractions are not supported: write 1500ms rather than 1.5s"));
  }
  const auto count = to_integer(parts.digits);
  if (parts.unit.empty()) {
    if (count == 0) return result::success(duration::zero());
    return result::failure(with("missing unit", duration_expected));
  }
  const unit* u = find_unit(duration_units, parts.unit);
  if (u == nullptr) return result::failure(unknown_unit(parts.unit, duration_expected));
  constexpr auto limit = uint64_t(std::numeric_limits<duration::rep>::max());
  const auto nanoseconds = count ? checked_multiply(*count, u->factor, limit) : std::nullopt;
  if (!nanoseconds) return result::failure("too large; a duration must be at most 2562047h");
  return result::success(duration(duration::rep(*nanoseconds)));
}

parsed<uint64_t> parse_size(std::string_view text) {
  using result = parsed<uint64_t>;
  const auto parts = split_number(text);
  if (parts.digits.empty() || is_malformed_unit(parts.unit)) {
    return result::failure(
        malformed(text, parts, size_expected,
                  "fractions are not supported: write 1536KiB rather than 1.5MiB"));
  }
  const unit* u = find_unit(size_units, parts.unit);
  if (u == nullptr) {
    if (auto hint = binary_unit_hint(parts.digits, parts.unit)) return result::failure(*hint);
    return result::failure(unknown_unit(parts.unit, size_expected));
  }
  const auto count = to_integer(parts.digits);
  const auto bytes = count
                         ? checked_multiply(*count, u->factor, std::numeric_limits<uint64_t>::max())
                         : std::nullopt;
  if (!bytes) return result::failure("too large; a size must be at most 16777215TiB");
  return result::success(*bytes);
}

parsed<rate> parse_rate(std::string_view text) {
  using result = parsed<rate>;
  const auto slash = text.find('/');
  const auto count_text = text.substr(0, slash);
  const auto parts = split_number(count_text);
  if (parts.digits.empty() || !parts.unit.empty() || slash == std::string_view::npos) {
    return result::failure(malformed(
        text, parts, rate_expected, "fractions are not supported: write 90/min rather than 1.5/s"));
  }
  const auto per_text = text.substr(slash + 1);
  const unit* u = find_unit(rate_units, per_text);
  if (u == nullptr) {
    if (per_text.empty()) return result::failure(std::string(rate_expected));
    if (per_text == "m")
      return result::failure(with("write /min for a rate per minute", rate_expected));
    return result::failure(unknown_unit(per_text, rate_expected));
  }
  const auto count = to_integer(parts.digits);
  if (!count)
    return result::failure("too large; the count of a rate must be at most 18446744073709551615");
  if (*count == 0) return result::failure(with("a rate must be at least 1", rate_expected));
  return result::success(rate{*count, duration(duration::rep(u->factor))});
}

std::string format_duration(duration value) {
  if (value == duration::zero()) return "0";
  // Negated in unsigned arithmetic, so the most negative value does not overflow.
  const auto ns =
      value.count() < 0 ? uint64_t(0) - uint64_t(value.count()) : uint64_t(value.count());
  const std::string sign = value.count() < 0 ? "-" : "";
  for (auto u = duration_units.rbegin(); u != duration_units.rend(); ++u) {
    if (ns % u->factor == 0) return sign + std::to_string(ns / u->factor) + std::string(u->name);
  }
  return sign + std::to_string(ns) + "ns";
}

}  // namespace bulwark::core
