#pragma once
// Reads one TOML table of a scenario against its schema: typed reads that
// report wrong types, ranges and enum values by full key path, and a final
// check that every key in the table is one the schema knows.

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "scenario/diagnostics.h"
#include "scenario/suggest.h"

namespace servelab::scenario {

template <class E>
struct Choice {
  std::string_view name;
  E value;
};

// "string \"abc\"", "integer 5", "a table": what a value is, for "got ..." text.
std::string describe(const toml::node& node);

class TableReader {
 public:
  // `path` is the table's key path: "" for the top level, "load", "requests[0]".
  // `keys` lists every key the table may hold; it must outlive the reader.
  TableReader(const toml::table& table, std::string path, std::span<const std::string_view> keys,
              Diagnostics& diagnostics)
      : table_(table), path_(std::move(path)), keys_(keys), diagnostics_(diagnostics) {}

  const toml::table& table() const { return table_; }
  const std::string& path() const { return path_; }
  std::string key_path(std::string_view key) const;
  const toml::node* find(std::string_view key) const { return table_.get(key); }

  // Each read_* leaves `out` unchanged when the key is absent or invalid (an
  // invalid value is reported) and returns true only when it stored a value.
  bool read_string(std::string_view key, std::string& out);
  bool read_bool(std::string_view key, bool& out);
  bool read_int(std::string_view key, int& out, int min, int max);
  bool read_uint64(std::string_view key, uint64_t& out);
  // Integer or float; > 0, or >= 0 when allow_zero.
  bool read_number(std::string_view key, double& out, bool allow_zero);
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
  // Reports every key not in `keys`, with a did-you-mean when one is close.
  void report_unknown_keys();

 private:
  void report_choice_error(const toml::node& node, std::string_view key,
                           std::span<const std::string_view> names);

  const toml::table& table_;
  std::string path_;
  std::span<const std::string_view> keys_;
  Diagnostics& diagnostics_;
};

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

}  // namespace servelab::scenario
