#include "models/repository_scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "models/model_config.h"
#include "models/path_within.h"

namespace servelab::models {

namespace fs = std::filesystem;

Result<std::vector<ModelEntry>> scan_repository(const std::string& dir) {
  std::error_code ec;
  const fs::path root = fs::canonical(dir, ec);
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));
  if (!fs::is_directory(root, ec))
    return make_error(fmt::format("model repository {}: not a directory", dir));

  std::vector<ModelEntry> entries;
  fs::directory_iterator it(root, ec);
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path folder = it->path();
    const std::string name = folder.filename().string();
    // Hidden folders hold nothing of ours (editors, VCS, temp files).
    if (name.empty() || name.front() == '.' || !fs::is_directory(folder, ec) ||
        !fs::exists(folder / "model.toml", ec))
      continue;

    ModelEntry entry;
    entry.config.name = name;
    entry.config.dir = folder.string();
    const fs::path resolved = fs::canonical(folder, ec);
    if (ec || !path_within(resolved, root)) {
      entry.error = fmt::format("{}: model folder resolves outside the repository", name);
      entries.push_back(std::move(entry));
      continue;
    }
    auto config = read_model_config(folder.string());
    if (!config)
      entry.error = config.error().message;
    else
      entry.config = std::move(*config);
    entries.push_back(std::move(entry));
  }
  if (ec) return make_error(fmt::format("model repository {}: {}", dir, ec.message()));

  std::sort(entries.begin(), entries.end(),
            [](const ModelEntry& a, const ModelEntry& b) { return a.config.name < b.config.name; });
  if (auto s = check_dependencies(entries); !s) return std::move(s).error();
  return entries;
}

Status check_dependencies(const std::vector<ModelEntry>& entries) {
  const auto index_of = [&](std::string_view name) -> int {
    const auto it =
        std::lower_bound(entries.begin(), entries.end(), name,
                         [](const ModelEntry& e, std::string_view n) { return e.config.name < n; });
    return it != entries.end() && it->config.name == name ? static_cast<int>(it - entries.begin())
                                                          : -1;
  };
  for (const ModelEntry& e : entries)
    for (const std::string& dep : e.config.depends_on)
      if (index_of(dep) < 0)
        return make_error(
            fmt::format("{}/model.toml: depends_on names unknown model '{}'", e.config.dir, dep));

  // Depth-first search with colours; the grey path is the stack, so a back
  // edge closes a cycle whose path is the stack from that model on.
  enum Colour : uint8_t { white, grey, black };
  std::vector<Colour> colour(entries.size(), white);
  std::vector<int> path;
  std::vector<size_t> next;  // per stack frame: index of the next dependency to visit
  for (size_t start = 0; start < entries.size(); ++start) {
    if (colour[start] != white) continue;
    path.assign(1, static_cast<int>(start));
    next.assign(1, 0);
    colour[start] = grey;
    while (!path.empty()) {
      const auto node = static_cast<size_t>(path.back());
      const auto& deps = entries[node].config.depends_on;
      if (next.back() == deps.size()) {
        colour[node] = black;
        path.pop_back();
        next.pop_back();
        continue;
      }
      const int d = index_of(deps[next.back()++]);
      const auto du = static_cast<size_t>(d);
      if (colour[du] == grey) {
        std::vector<std::string> names;
        const auto from = std::find(path.begin(), path.end(), d);
        for (auto p = from; p != path.end(); ++p)
          names.push_back(entries[static_cast<size_t>(*p)].config.name);
        names.push_back(entries[du].config.name);
        return make_error(
            fmt::format("dependency cycle in model repository: {}", fmt::join(names, " -> ")));
      }
      if (colour[du] == white) {
        colour[du] = grey;
        path.push_back(d);
        next.push_back(0);
      }
    }
  }
  return Ok{};
}

}  // namespace servelab::models
