#pragma once
// What a binary was built from, captured at build time by
// cmake/write_build_info.cmake: `--version` prints it and every result
// records it (report/environment.cpp), so that a figure names the code that
// produced it even when the source tree has moved on since.

#include <string>
#include <string_view>

namespace servelab {

struct BuildInfo {
  std::string_view version;  // the project's version (CMakeLists.txt)
  std::string_view
      git_commit;  // 12 hex digits, "-dirty" with uncommitted changes; "unknown" outside git
  std::string_view build_type;  // CMAKE_BUILD_TYPE: Release, RelWithDebInfo, Debug…
  std::string_view cxx_flags;   // CMAKE_CXX_FLAGS (the sanitizer presets' flags show here)
};

const BuildInfo& build_info();

// "PROGRAM VERSION (commit COMMIT, BUILD_TYPE[, FLAGS])": the --version line.
std::string version_line(std::string_view program);

}  // namespace servelab
