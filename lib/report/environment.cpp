#include <curl/curl.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>

#include "common/build_info.h"
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
  const BuildInfo& build = build_info();
  env.servelab_version = build.version;
  env.git_commit = build.git_commit;
  env.build_type = build.cxx_flags.empty()
                       ? std::string(build.build_type)
                       : fmt::format("{} {}", build.build_type, build.cxx_flags);
  env.libcurl_version = curl_version_info(CURLVERSION_NOW)->version;
  env.started_at = fmt::format(
      "{:%Y-%m-%dT%H:%M:%SZ}",
      fmt::gmtime(std::chrono::system_clock::to_time_t(std::chrono::system_clock::now())));
  return env;
}

}  // namespace servelab::report
