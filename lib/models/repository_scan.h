#pragma once
// Reads a model repository without loading any weights: one folder per
// model, each with a model.toml (and a weights file the loader reads later).
// ModelManager::open() starts from this scan.

#include <string>
#include <vector>

#include "common/result.h"
#include "models/model.h"

namespace servelab::models {

// One model folder of a repository.
struct ModelEntry {
  ModelConfig config;  // name and dir always set; the rest when `error` is empty
  std::string error;   // why model.toml could not be used; empty when it was read
};

// Reads every model folder's model.toml under `dir` (entries sorted by name;
// a bad model.toml is that entry's `error`, with file:line:column), then
// checks the dependency graph: an unknown name in depends_on, or a cycle
// (the message gives its path "a -> b -> a"), fails the whole scan. Error
// also when `dir` cannot be read. Hidden folders and folders without a
// model.toml are skipped.
Result<std::vector<ModelEntry>> scan_repository(const std::string& dir);

// The dependency check of scan_repository(). REQUIRES: `entries` sorted by name.
Status check_dependencies(const std::vector<ModelEntry>& entries);

}  // namespace servelab::models
