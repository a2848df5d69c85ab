# Runs at every build (lib/common/CMakeLists.txt, target servelab_build_info_source):
# writes build_info.cpp with the version, the source tree's git commit (with
# "-dirty" when it has uncommitted changes) and the build type, and rewrites
# the file only when one of them changed, so that an unchanged tree relinks
# nothing. Captured when the binary is built, not when it runs: a binary not
# rebuilt after `git pull` keeps saying the commit it was built from.
# Inputs: SRC_DIR, OUT, VERSION, BUILD_TYPE, FLAGS.
set(commit "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SRC_DIR}" rev-parse --short=12 HEAD
                  OUTPUT_VARIABLE head RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(rc EQUAL 0 AND NOT head STREQUAL "")
    set(commit "${head}")
    execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SRC_DIR}" diff --quiet HEAD --
                    RESULT_VARIABLE dirty ERROR_QUIET)
    if(NOT dirty EQUAL 0)
      string(APPEND commit "-dirty")
    endif()
  endif()
endif()
if(BUILD_TYPE STREQUAL "")
  set(BUILD_TYPE "none")
endif()
string(REPLACE "\\" "\\\\" FLAGS "${FLAGS}")
string(REPLACE "\"" "\\\"" FLAGS "${FLAGS}")
set(text "// Written by cmake/write_build_info.cmake at build time; do not edit.
#include \"common/build_info.h\"

namespace servelab {

const BuildInfo& build_info() {
  static const BuildInfo info{\"${VERSION}\", \"${commit}\", \"${BUILD_TYPE}\", \"${FLAGS}\"};
  return info;
}

}  // namespace servelab
")
set(existing "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" existing)
endif()
if(NOT existing STREQUAL text)
  file(WRITE "${OUT}" "${text}")
endif()
