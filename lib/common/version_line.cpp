#include <fmt/format.h>

#include "common/build_info.h"

namespace servelab {

std::string version_line(std::string_view program) {
  const BuildInfo& b = build_info();
  std::string line =
      fmt::format("{} {} (commit {}, {} build", program, b.version, b.git_commit, b.build_type);
  if (!b.cxx_flags.empty()) line += fmt::format(", flags '{}'", b.cxx_flags);
  return line + ")";
}

}  // namespace servelab
