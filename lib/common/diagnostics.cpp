#include "common/diagnostics.h"

#include <fmt/format.h>

#include <algorithm>

namespace servelab {

namespace {

bool is_override(const toml::source_region& region) {
  return region.path && region.path->starts_with(kOverridePrefix);
}

}  // namespace

std::string position(const toml::source_region& region, std::string_view source_name) {
  if (is_override(region)) return *region.path;
  const std::string_view file = region.path ? std::string_view(*region.path) : source_name;
  if (region.begin.line == 0) return fmt::format("{}:1:1", file);
  return fmt::format("{}:{}:{}", file, region.begin.line, region.begin.column);
}

void Diagnostics::add(const toml::source_region& at, std::string_view message) {
  entries_.push_back(Entry{is_override(at), at.begin.line, at.begin.column,
                           fmt::format("{}: {}", position(at, source_name_), message)});
}

Error Diagnostics::to_error() const {
  std::vector<const Entry*> sorted;
  sorted.reserve(entries_.size());
  for (const Entry& e : entries_) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    if (a->from_override != b->from_override) return a->from_override;
    if (a->line != b->line) return a->line < b->line;
    return a->column < b->column;
  });
  std::string text;
  for (const Entry* e : sorted) {
    if (!text.empty()) text += '\n';
    text += e->text;
  }
  return make_error(std::move(text));
}

}  // namespace servelab
