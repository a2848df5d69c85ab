#pragma once
// Confinement of a resolved path to a folder: a model folder to its
// repository (repository_scan.cpp), a weights file to its model folder
// (model_loader.cpp). Internal to lib/models.

#include <algorithm>
#include <filesystem>

namespace servelab::models {

// True when `inner` is `outer` or below it. REQUIRES: both canonical (so no
// ".." or symlink can lead out after the check).
inline bool path_within(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  const auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
  return o == outer.end();
}

}  // namespace servelab::models
