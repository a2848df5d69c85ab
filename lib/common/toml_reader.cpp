#include "common/toml_reader.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "common/duration.h"
#include "common/suggest.h"

namespace servelab {

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

std::string describe(const toml::node& node) {
  if (const auto* text = node.as_string()) return fmt::format("string \"{}\"", text->get());
  if (const auto* number = node.as_integer()) return fmt::format("integer {}", number->get());
  if (const auto* number = node.as_floating_point())
    return fmt::format("floating-point {}", number->get());
  if (const auto* flag = node.as_boolean()) return fmt::format("boolean {}", flag->get());
  return std::string(type_name(node));
}

std::string TableReader::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

void TableReader::error(const toml::node& at, std::string_view key, std::string_view message) {
  diagnostics_.add(at.source(), fmt::format("{}: {}", key_path(key), message));
  if (!reported(key)) reported_.emplace_back(key);
}

bool TableReader::reported(std::string_view key) const {
  return std::find(reported_.begin(), reported_.end(), key) != reported_.end();
}

void TableReader::missing(std::string_view key, std::string_view expected) {
  diagnostics_.add(table_.source(),
                   fmt::format("{}: missing required key; expected {}", key_path(key), expected));
}

bool TableReader::read_string(std::string_view key, std::string& out) {
  const toml::node* node = find(key);
  if (node == nullptr) return false;
  if (const auto* text = node->as_string()) {
    out = text->get();
    return true;
  }
  error(*node, key, fmt::format("expected a string, got {}", describe(*node)));
  return false;
}

bool TableReader::read_bool(std::string_view key, bool& out) {
  const toml::node* node = find(key);
  if (node == nullptr) return false;
  if (const auto* flag = node->as_boolean()) {
    out = flag->get();
    return true;
  }
  error(*node, key, fmt::format("expected a boolean (true or false), got {}", describe(*node)));
  return false;
}

void TableReader::report_integer_error(const toml::node& node, std::string_view key,
                                       std::string_view range) {
  error(node, key, fmt::format("expected an integer{}, got {}", range, describe(node)));
}

bool TableReader::read_number(std::string_view key, double& out, bool allow_zero) {
  const toml::node* node = find(key);
  if (node == nullptr) return false;
  std::optional<double> value;
  if (const auto* i = node->as_integer()) value = static_cast<double>(i->get());
  if (const auto* f = node->as_floating_point()) value = f->get();
  if (!value || !std::isfinite(*value) || *value < 0 || (!allow_zero && *value == 0)) {
    error(*node, key,
          fmt::format("expected a number {} 0, got {}", allow_zero ? ">=" : ">", describe(*node)));
    return false;
  }
  out = *value;
  return true;
}

bool TableReader::read_duration(std::string_view key, std::chrono::microseconds& out,
                                bool allow_zero) {
  const toml::node* node = find(key);
  if (node == nullptr) return false;
  const auto* text = node->as_string();
  if (text == nullptr) {
    error(*node, key,
          fmt::format(R"(expected a duration string such as "10s" or "500ms", got {})",
                      describe(*node)));
    return false;
  }
  Result<std::chrono::microseconds> parsed = parse_duration(text->get());
  if (!parsed) {
    error(*node, key, parsed.error().message);
    return false;
  }
  if (!allow_zero && parsed->count() == 0) {
    error(*node, key, fmt::format("expected a duration > 0, got \"{}\"", text->get()));
    return false;
  }
  out = *parsed;
  return true;
}

const toml::table* TableReader::read_table(std::string_view key) {
  const toml::node* node = find(key);
  if (node == nullptr) return nullptr;
  if (const auto* table = node->as_table()) return table;
  // A string where a table belongs is often a header line with its
  // credential ("Authorization: Bearer ..."): named by its type, not quoted.
  const std::string got = node->is_string() ? std::string(type_name(*node)) : describe(*node);
  error(*node, key, fmt::format("expected a table ([{}]), got {}", key_path(key), got));
  return nullptr;
}

const toml::array* TableReader::read_array(std::string_view key) {
  const toml::node* node = find(key);
  if (node == nullptr) return nullptr;
  if (const auto* array = node->as_array()) return array;
  error(*node, key, fmt::format("expected an array, got {}", describe(*node)));
  return nullptr;
}

void TableReader::report_choice_error(const toml::node& node, std::string_view key,
                                      std::span<const std::string_view> names) {
  std::string list;
  for (std::string_view name : names) {
    list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", name);
  }
  std::string message = fmt::format(
      "expected one of {}, got {}", list,
      node.is_string() ? fmt::format("\"{}\"", node.as_string()->get()) : describe(node));
  if (const auto* text = node.as_string()) {
    if (auto near = closest_match(text->get(), names)) {
      message += fmt::format("; did you mean \"{}\"?", *near);
    }
  }
  error(node, key, message);
}

void TableReader::report_unknown_keys() {
  const std::string where = path_.empty()                          ? std::string("at the top level")
                            : path_.find('[') != std::string::npos ? fmt::format("in {}", path_)
                                                                   : fmt::format("in [{}]", path_);
  for (auto&& [key, node] : table_) {
    bool known = false;
    for (std::string_view k : keys_) known = known || k == key.str();
    // A key the reader already refused by name (error()) is not also unknown.
    if (known || reported(key.str())) continue;
    std::string message = fmt::format("unknown key \"{}\" {}", key.str(), where);
    if (auto near = closest_match(key.str(), keys_)) {
      message += fmt::format("; did you mean \"{}\"?", *near);
    } else {
      std::string list;
      for (std::string_view k : keys_) list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
      message += fmt::format("; valid keys: {}", list);
    }
    // A key added by --set has no position of its own; its value has the flag.
    diagnostics_.add(key.source().path ? key.source() : node.source(), message);
  }
}

}  // namespace servelab
