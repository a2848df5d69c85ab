#include "common/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace servelab {
namespace {

namespace fs = std::filesystem;

std::string temp_name(const std::string& path) {
  return fmt::format("{}.tmp.{}", path, ::getpid());
}

// Writes and fsyncs `content` to `tmp` (for `path`); removes it on failure.
Status write_temp(const std::string& path, const std::string& tmp, std::string_view content) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      return make_error(fmt::format("create {}: {}", target.parent_path().string(), ec.message()));
  }
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(fmt::format("write {}: {}", path, std::strerror(errno)));
  size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      // ENOSPC (disk full), EFBIG (file size limit), EDQUOT, EIO...
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return make_error(fmt::format("write {}: {}", path, std::strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  // close() is called whatever fsync() said: the descriptor must not leak.
  const int sync_rc = ::fsync(fd);
  const int sync_err = errno;
  const int close_rc = ::close(fd);
  const int close_err = errno;
  if (sync_rc != 0 || close_rc != 0) {
    ::unlink(tmp.c_str());
    return make_error(
        fmt::format("write {}: {}", path, std::strerror(sync_rc != 0 ? sync_err : close_err)));
  }
  return Ok{};
}

Status rename_into_place(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return make_error(fmt::format("rename {} to {}: {}", tmp, path, std::strerror(err)));
  }
  return Ok{};
}

}  // namespace

Status write_file_atomically(const std::string& path, std::string_view content) {
  const std::string tmp = temp_name(path);
  if (auto st = write_temp(path, tmp, content); !st) return st;
  return rename_into_place(tmp, path);
}

Status write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<std::string> temps;
  temps.reserve(files.size());
  for (const auto& [path, content] : files) {
    std::string tmp = temp_name(path);
    if (auto st = write_temp(path, tmp, content); !st) {
      for (const std::string& t : temps) ::unlink(t.c_str());
      return st;
    }
    temps.push_back(std::move(tmp));
  }
  for (size_t i = 0; i < files.size(); ++i) {
    if (auto st = rename_into_place(temps[i], files[i].first); !st) {
      for (size_t j = i + 1; j < temps.size(); ++j) ::unlink(temps[j].c_str());
      return st;
    }
  }
  return Ok{};
}

}  // namespace servelab
