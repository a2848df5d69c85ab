#pragma once
// A unique scratch folder under the system temp dir, removed with its
// contents when the test ends. Shared by every test suite.
//
// With SERVELAB_KEEP_RESULTS set (ctest sets it: tests/CMakeLists.txt), the
// result.json and matrix.json files written under the folder are copied
// there before it goes, so that one check at the end of the suite holds
// every result the tests wrote against the JSON Schemas (docs/schema).

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace servelab::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    static std::atomic<int> counter{0};
    path_ =
        std::filesystem::temp_directory_path() /
        ("servelab-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    keep_results();
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  void keep_results() const {
    const char* keep = std::getenv("SERVELAB_KEEP_RESULTS");
    if (keep == nullptr || *keep == '\0') return;
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path into = fs::path(keep) / path_.filename();  // pid + counter: unique
    for (fs::recursive_directory_iterator it(path_, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path name = it->path().filename();
      if (name != "result.json" && name != "matrix.json") continue;
      std::error_code copy_ec;
      const fs::path target = into / fs::relative(it->path(), path_, copy_ec);
      fs::create_directories(target.parent_path(), copy_ec);
      fs::copy_file(it->path(), target, fs::copy_options::overwrite_existing, copy_ec);
    }
  }

  std::filesystem::path path_;
};

}  // namespace servelab::testing
