#include "common/byte_size.h"

#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace servelab {

namespace {

constexpr std::string_view kExpected =
    R"(expected a byte size such as "512MiB", "1.5GiB", "64MB" or a number of bytes)";

// Bytes per unit; 0 for an unknown unit.
double unit_bytes(std::string_view unit) {
  constexpr std::array<std::pair<std::string_view, double>, 12> kUnits = {{
      {"", 1.0},
      {"B", 1.0},
      {"kB", 1e3},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
      {"TB", 1e12},
      {"KiB", 1024.0},
      {"MiB", 1024.0 * 1024},
      {"GiB", 1024.0 * 1024 * 1024},
      {"TiB", 1024.0 * 1024 * 1024 * 1024},
      {"kiB", 1024.0},
  }};
  for (const auto& [name, bytes] : kUnits) {
    if (unit == name) return bytes;
  }
  return 0;
}

}  // namespace

Result<uint64_t> parse_byte_size(std::string_view text) {
  std::string_view rest = text;
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  while (!rest.empty() && rest.back() == ' ') rest.remove_suffix(1);
  double number = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), number);
  if (ec != std::errc() || rest.empty() || rest.front() == '-' || rest.front() == '+') {
    return make_error(fmt::format("{}, got \"{}\"", kExpected, text));
  }
  std::string_view unit = rest.substr(static_cast<size_t>(end - rest.data()));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  const double per = unit_bytes(unit);
  if (per == 0) {
    return make_error(fmt::format("{}, got \"{}\" (unknown unit \"{}\")", kExpected, text, unit));
  }
  const double bytes = std::round(number * per);
  // 2^64 is exactly representable; anything at or above it does not fit.
  if (!std::isfinite(bytes) || bytes >= 18446744073709551616.0) {
    return make_error(fmt::format("{}, got \"{}\" (too large)", kExpected, text));
  }
  return static_cast<uint64_t>(bytes);
}

std::string format_byte_size(uint64_t bytes) {
  constexpr std::array<std::string_view, 5> kNames = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < kNames.size()) {
    value /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.3g} {}", value, kNames[unit]);
}

}  // namespace servelab
