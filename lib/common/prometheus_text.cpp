#include "common/prometheus_text.h"

#include <cstdlib>
#include <string>

namespace servelab {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Position just past the label set that starts at `open` ('{'), honouring
// quoted values with escapes; npos when it never closes.
size_t end_of_labels(std::string_view line, size_t open) {
  bool quoted = false;
  for (size_t i = open + 1; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == '}') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::map<std::string, double> parse_prometheus_text(std::string_view text) {
  std::map<std::string, double> samples;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);

    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;

    size_t series_end = 0;
    while (series_end < line.size() && line[series_end] != '{' && !is_space(line[series_end]))
      ++series_end;
    if (series_end < line.size() && line[series_end] == '{') {
      series_end = end_of_labels(line, series_end);
      if (series_end == std::string_view::npos) continue;
    }
    if (series_end == 0) continue;
    std::string_view rest = line.substr(series_end);
    while (!rest.empty() && is_space(rest.front())) rest.remove_prefix(1);
    const std::string value(rest.substr(0, rest.find_first_of(" \t")));
    if (value.empty()) continue;
    // strtod reads "+Inf", "-Inf", "NaN" as well as decimals.
    char* end = nullptr;
    const double v = std::strtod(value.c_str(), &end);
    if (end != value.c_str() + value.size()) continue;
    samples[std::string(line.substr(0, series_end))] = v;
  }
  return samples;
}

}  // namespace servelab
