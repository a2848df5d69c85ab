#pragma once
// Collects every problem found in a TOML file (a scenario, a model.toml),
// each prefixed with where it is: "file:line:column" of the offending value,
// or "--set key=value" for a value that came from the command line.

#include <toml++/toml.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace servelab {

// Nodes created by a --set override carry this prefix plus the assignment as
// their source path, so that errors point at the flag instead of a file line.
inline constexpr std::string_view kOverridePrefix = "--set ";

// "file:line:column", or the "--set k=v" text for overridden values. A region
// without a line (a node built in code) points at the start of the file.
std::string position(const toml::source_region& region, std::string_view source_name);

class Diagnostics {
 public:
  explicit Diagnostics(std::string source_name) : source_name_(std::move(source_name)) {}

  void add(const toml::source_region& at, std::string_view message);
  bool empty() const { return entries_.empty(); }
  size_t count() const { return entries_.size(); }

  // Every message, one per line: --set problems first, then in file order.
  Error to_error() const;

 private:
  struct Entry {
    bool from_override;
    uint32_t line;
    uint32_t column;
    std::string text;
  };
  std::string source_name_;
  std::vector<Entry> entries_;
};

}  // namespace servelab
