#include "scenario/overrides.h"

#include <fmt/format.h>

#include <charconv>
#include <sstream>
#include <string>
#include <vector>

#include "common/diagnostics.h"
#include "common/toml_reader.h"
#include "scenario/redaction.h"

namespace servelab::scenario {

namespace {

// Parses "v = <text>" with `label` as the document's path, so that the
// resulting node (and everything inside it) points at the --set flag.
std::optional<toml::table> parse_value(const std::string& text, std::string_view label) {
  try {
    toml::table doc = toml::parse("v = " + text, label);
    if (doc.size() != 1 || !doc.contains("v")) return std::nullopt;  // "1\nx = 2"
    return doc;
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

// The override's value as a one-key document {v = value}.
toml::table value_document(std::string_view value, std::string_view label) {
  if (auto doc = parse_value(std::string(value), label)) return std::move(*doc);
  // Not TOML: a plain string. toml++ writes it as a quoted TOML string, so
  // parsing that back gives the string with the flag as its source.
  std::ostringstream quoted;
  quoted << toml::value<std::string>(std::string(value));
  return std::move(*parse_value(quoted.str(), label));
}

std::optional<size_t> parse_index(std::string_view text) {
  size_t index = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return index;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t begin = 0;
  for (size_t end; (end = text.find(separator, begin)) != std::string_view::npos; begin = end + 1) {
    parts.push_back(text.substr(begin, end - begin));
  }
  parts.push_back(text.substr(begin));
  return parts;
}

}  // namespace

Status apply_override(toml::table& root, std::string_view assignment) {
  // The label is the source path of every node made here, so errors quote
  // it: redacted, so that a mistyped --set does not print its credential.
  const std::string label = fmt::format("{}{}", kOverridePrefix, redact_override(assignment));
  const size_t equals = assignment.find('=');
  if (equals == std::string_view::npos || equals == 0) {
    return make_error(fmt::format("{}: expected key=value, e.g. --set load.duration=30s", label));
  }
  const std::string_view path = assignment.substr(0, equals);
  const std::vector<std::string_view> parts = split(path, '.');
  for (std::string_view part : parts) {
    if (part.empty()) {
      return make_error(fmt::format("{}: empty part in key \"{}\"", label, path));
    }
  }
  toml::table doc = value_document(assignment.substr(equals + 1), label);
  toml::node& value = *doc.get("v");
  toml::source_region region;
  region.path = value.source().path;  // keys created here point at the flag too

  toml::node* current = &root;
  std::string walked;  // the path so far, as the user wrote it
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    const bool last = i + 1 == parts.size();
    toml::node* next = nullptr;
    if (auto* table = current->as_table()) {
      if (last) {
        table->insert_or_assign(toml::key(part, region), std::move(value));
        return Ok{};
      }
      next = table->get(part);
      if (next == nullptr) {
        toml::table made = value_document("{}", label);
        next = &table->insert_or_assign(toml::key(part, region), std::move(*made.get("v")))
                    .first->second;
      }
    } else if (auto* array = current->as_array()) {
      const std::optional<size_t> index = parse_index(part);
      if (!index) {
        return make_error(
            fmt::format("{}: {} is an array; expected an element index (0, 1, ...) "
                        "after it, got \"{}\"",
                        label, walked, part));
      }
      if (*index >= array->size()) {
        return make_error(
            fmt::format("{}: {}.{} does not exist: {} has {} element(s), "
                        "indexed from 0",
                        label, walked, part, walked, array->size()));
      }
      if (last) {
        array->replace(array->cbegin() + static_cast<std::ptrdiff_t>(*index), std::move(value));
        return Ok{};
      }
      next = array->get(*index);
    } else {
      return make_error(fmt::format("{}: {} is {}, not a table, so it has no \"{}\"", label, walked,
                                    type_name(*current), part));
    }
    walked += walked.empty() ? std::string(part) : fmt::format(".{}", part);
    current = next;
  }
  return Ok{};  // unreachable: the loop returns on its last part
}

}  // namespace servelab::scenario
