#pragma once
// The fixed result files under tests/report/golden/ (a real 1 s baseline run
// with streaming on, so it carries an inert toggle and a warning).

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "report/result_json.h"

namespace servelab::report::testing {

inline std::string golden_path(const std::string& name) {
  return std::string(SERVELAB_SOURCE_DIR) + "/tests/report/golden/" + name;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares `actual` with golden file `name`. Regenerate the goldens after an
// intended format change with SERVELAB_UPDATE_GOLDEN=1 and review the diff.
inline void expect_golden(const std::string& name, const std::string& actual) {
  if (std::getenv("SERVELAB_UPDATE_GOLDEN") != nullptr)
    std::ofstream(golden_path(name), std::ios::binary) << actual;
  EXPECT_EQ(actual, read_text(golden_path(name))) << "golden " << name << " differs";
}

inline RunRecord golden_record(const std::string& name = "result.json") {
  auto r = read_result_file(golden_path(name));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  if (!r.ok()) return RunRecord();
  return std::move(r).value();
}

}  // namespace servelab::report::testing
