#pragma once
// Reads one TOML table against the keys it may hold: typed reads that report
// wrong types, ranges and choices by full key path, and a final check that
// names every unknown key with a did-you-mean. Scenario files and model.toml
// both read through it, so their errors have one form:
//   file:line:column: path.key: expected <what>, got <what was there>

#include <fmt/format.h>
#include <toml++/toml.h>

#include <chrono>
#include <concepts>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/diagnostics.h"

namespace servelab {

// One valid value of a string-valued key and what it stands for.
template <class E>
struct Choice {
  std::string_view name;
  E value;
};

// What type a value is: "a string", "an integer", "a table".
std::string_view type_name(const toml::node& node);
// What a value is, for "got ..." text: `string "abc"`, `integer 5`, `a table`.
std::string describe(const toml::node& node);

class TableReader {
 public:
  // `path` is the table's key path: "" for the top level, "load", "requests[0]".
  // `keys` lists every key the table may hold, in the order "valid keys: ..." names them.
  TableReader(const toml::table& table, std::string path, std::vector<std::string_view> keys,
              Diagnostics& diagnostics)
      : table_(table), path_(std::move(path)), keys_(std::move(keys)), diagnostics_(diagnostics) {}

  const toml::table& table() const { return table_; }
  const std::string& path() const { return path_; }
  Diagnostics& diagnostics() const { return diagnostics_; }
  std::string key_path(std::string_view key) const;
  const toml::node* find(std::string_view key) const { return table_.get(key); }

  // Each read_* leaves `out` unchanged when the key is absent or invalid (an
  // invalid value is reported) and returns true only when it stored a value.
  bool read_string(std::string_view key, std::string& out);
  bool read_bool(std::string_view key, bool& out);
  // An integer from `min` to `max`.
  template <std::integral T>
  bool read_integer(std::string_view key, T& out, T min = std::numeric_limits<T>::lowest(),
                    T max = std::numeric_limits<T>::max());
  // Integer or float; > 0, or >= 0 when allow_zero.
  bool read_number(std::string_view key, double& out, bool allow_zero);
  // A duration string ("500ms"); > 0, or >= 0 when allow_zero.
  bool read_duration(std::string_view key, std::chrono::microseconds& out, bool allow_zero);
  template <class E>
  bool read_choice(std::string_view key, E& out, std::span<const Choice<E>> choices);

  // The sub-table / array at `key`, or nullptr when absent or not that type (reported).
  const toml::table* read_table(std::string_view key);
  const toml::array* read_array(std::string_view key);

  // "<file:line:col of node>: <path.key>: <message>"
  void error(const toml::node& at, std::string_view key, std::string_view message);
  // A required key is absent: reported at the table, saying what it expects.
  void missing(std::string_view key, std::string_view expected);
  // True once an error has named `key` (its value is invalid: checks that
  // build on it are skipped rather than reported twice).
  bool reported(std::string_view key) const;
  // Reports every key not in `keys` that no error() has named yet (a key
  // refused by name is not also unknown), with a did-you-mean when one is close.
  void report_unknown_keys();

 private:
  void report_integer_error(const toml::node& node, std::string_view key, std::string_view range);
  void report_choice_error(const toml::node& node, std::string_view key,
                           std::span<const std::string_view> names);

  const toml::table& table_;
  std::string path_;
  std::vector<std::string_view> keys_;
  std::vector<std::string> reported_;  // keys named by error()
  Diagnostics& diagnostics_;
};

template <std::integral T>
bool TableReader::read_integer(std::string_view key, T& out, T min, T max) {
  const toml::node* node = find(key);
  if (node == nullptr) return false;
  if (const auto* number = node->as_integer();
      number != nullptr && std::in_range<T>(number->get())) {
    const T value = static_cast<T>(number->get());  // in range: checked above
    if (value >= min && value <= max) {
      out = value;
      return true;
    }
  }
  std::string range;
  if (max != std::numeric_limits<T>::max()) {
    range = fmt::format(" from {} to {}", min, max);
  } else if (std::is_unsigned_v<T> || min != std::numeric_limits<T>::lowest()) {
    range = fmt::format(" >= {}", min);
  }
  report_integer_error(*node, key, range);
  return false;
}

template <class E>
bool TableReader::read_choice(std::string_view key, E& out, std::span<const Choice<E>> choices) {
  const toml::node* node = find(key);
  if (node == nullptr) return false;
  if (const auto* text = node->as_string()) {
    for (const Choice<E>& choice : choices) {
      if (text->get() == choice.name) {
        out = choice.value;
        return true;
      }
    }
  }
  std::vector<std::string_view> names;
  for (const Choice<E>& choice : choices) names.push_back(choice.name);
  report_choice_error(*node, key, names);
  return false;
}

}  // namespace servelab
