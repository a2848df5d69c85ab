
#include "common/duration.h"

#include <fmt/format.h>

#include <cstdint>
#include <limits>
#include <string>

namespace servelab {

namespace {

using Micros = std::chrono::microseconds;

constexpr std::string_view kExpected =
    R"(expected a duration such as "30s", "500ms", "250us", "10m", "1h" or "1m30s")";

Error duration_error(std::string_view text, std::string_view reason) {
  return make_error(fmt::format("{}, got \"{}\" ({})", kExpected, text, reason));
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Microseconds per unit; 0 for an unknown unit.
int64_t unit_micros(std::string_view unit) {
  if (unit == "h") return int64_t{3'600'000'000};
  if (unit == "m") return 60'000'000;
  if (unit == "s") return 1'000'000;
  if (unit == "ms") return 1'000;
  if (unit == "us" || unit == "\u00b5s") return 1;
  return 0;
}

}  // namespace

Result<Micros> parse_duration(std::string_view text) {
  if (text.empty()) return duration_error(text, "empty");
  // Bounds the sum so that adding a component can never overflow int64:
  // 100000 hours is far past any run and far below int64 microseconds.
  constexpr int64_t kMax = int64_t{100'000} * 3'600'000'000;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      return duration_error(text, text[i] == '-' ? "negative durations are not allowed"
                                                 : "each part must start with a number");
    }
    int64_t whole = 0;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      if (whole > kMax) return duration_error(text, "too large");
      whole = whole * 10 + (text[i] - '0');
    }
    // Optional fraction ("1.5s"), kept as digits so that it is exact.
    int64_t fraction = 0;
    int64_t fraction_scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      if (i >= text.size() || !is_digit(text[i])) {
        return duration_error(text, "expected digits after '.'");
      }
      for (; i < text.size() && is_digit(text[i]); ++i) {
        if (fraction_scale >= 1'000'000'000) return duration_error(text, "too many decimals");
        fraction = fraction * 10 + (text[i] - '0');
        fraction_scale *= 10;
      }
    }
    const size_t unit_begin = i;
    while (i < text.size() && !is_digit(text[i]) && text[i] != '.') ++i;
    const std::string_view unit = text.substr(unit_begin, i - unit_begin);
    if (unit.empty()) {
      return duration_error(text,
                            fmt::format("missing unit after \"{}\"", text.substr(0, unit_begin)));
    }
    const int64_t per_unit = unit_micros(unit);
    if (per_unit == 0) {
      return duration_error(text,
                            fmt::format("unknown unit \"{}\"; units are h, m, s, ms, us", unit));
    }
    if (whole > kMax / per_unit) return duration_error(text, "too large");
    if ((fraction * per_unit) % fraction_scale != 0) {
      return duration_error(text, "finer than the 1us resolution");
    }
    total += whole * per_unit + fraction * per_unit / fraction_scale;
    if (total > kMax) return duration_error(text, "too large");
  }
  return Micros(total);
}

std::string format_duration(Micros d) {
  if (d.count() == 0) return "0s";
  if (d.count() < 0) return fmt::format("-{}", format_duration(-d));
  // Largest units first, each part that is non-zero: the shortest text that
  // parse_duration() reads back to exactly `d`.
  struct Unit {
    std::string_view name;
    int64_t micros;
  };
  constexpr Unit kUnits[] = {
      {"h", int64_t{3'600'000'000}}, {"m", 60'000'000}, {"s", 1'000'000}, {"ms", 1'000}, {"us", 1}};
  std::string out;
  int64_t rest = d.count();
  for (const Unit& unit : kUnits) {
    const int64_t n = rest / unit.micros;
    rest %= unit.micros;
    if (n != 0) out += fmt::format("{}{}", n, unit.name);
  }
  return out;
}

}  // namespace servelab
