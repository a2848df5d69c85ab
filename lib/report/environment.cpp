#include <curl/curl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "report/run_record.h"

namespace servelab::report {
namespace {

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

// The commit of the source tree this binary was built from, read at run time
// so that a rebuild without reconfiguring still reports the right one.
std::string git_commit() {
  const std::string cmd =
      fmt::format("git -C '{}' rev-parse --short=12 HEAD 2>/dev/null", SERVELAB_SOURCE_DIR);
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "unknown";
  std::array<char, 64> buf{};
  std::string out;
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) out += buf.data();
  const int rc = ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (rc != 0 || out.empty()) return "unknown";
  const std::string dirty_cmd =
      fmt::format("git -C '{}' diff --quiet HEAD -- 2>/dev/null", SERVELAB_SOURCE_DIR);
  if (std::system(dirty_cmd.c_str()) != 0) out += "-dirty";
  return out;
}

}  // namespace

Environment capture_environment() {
  Environment env;
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size()) == 0) env.host = host.data();
  env.cores = static_cast<int>(::sysconf(_SC_NPROCESSORS_ONLN));
  env.cpu_model = cpu_model_name();
  utsname uts{};
  if (::uname(&uts) == 0)
    env.kernel = fmt::format("{} {} {}", uts.sysname, uts.release, uts.machine);
#if defined(__clang__)
  env.compiler =
      fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  env.compiler = fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#endif
  env.servelab_version = SERVELAB_VERSION;
  env.git_commit = git_commit();
  env.libcurl_version = curl_version_info(CURLVERSION_NOW)->version;
  env.started_at = fmt::format(
      "{:%Y-%m-%dT%H:%M:%SZ}",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  return env;
}

}  // namespace servelab::report
