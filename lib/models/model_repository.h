#pragma once
// A model repository: one folder per model, each with model.toml and a
// safetensors weights file. In this version every model loads synchronously
// when the repository is opened; a model that fails to load is kept with its
// error (it answers 503/"not ready" with the reason) and never fails the
// others or the server.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "models/model.h"

namespace servelab::models {

struct ModelEntry {
  ModelConfig config;
  std::shared_ptr<const Model> model;  // null when the load failed
  std::string error;                   // why the load failed; empty when loaded
};

class ModelRepository {
 public:
  // Error only when `dir` cannot be read. Every subfolder with a model.toml
  // becomes an entry; a bad model.toml (message names file:line:column) or a
  // failed load is that entry's `error`, never a failure of open().
  // The dependency graph is checked first (see scan_repository()).
  static Result<ModelRepository> open(const std::string& dir);

  const ModelEntry* find(std::string_view name) const;
  const std::vector<ModelEntry>& entries() const { return entries_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<ModelEntry> entries_;  // sorted by name
};

// Reads a model.toml; `dir` is the model folder.
Result<ModelConfig> read_model_config(const std::string& model_dir);

// Called between the steps of a load (after every few MiB read, before
// hashing, parsing and building): a reason to abandon the load (timeout,
// cancellation), or nullopt to go on. Lets the model manager bound a load.
using LoadCheck = std::function<std::optional<std::string>()>;
// Builds the model of `config.kind` from its weights file. With `check`, an
// abandoned load's error is the reason `check` gave.
Result<std::shared_ptr<const Model>> load_model(const ModelConfig& config, const LoadCheck& check = {});

// Reads every model folder's model.toml under `dir` without loading any
// weights (entries sorted by name, `model` null; a bad model.toml is that
// entry's `error`), then checks the dependency graph: an unknown name in
// depends_on, or a cycle (the message gives its path "a -> b -> a"), fails
// the whole scan. Error also when `dir` cannot be read.
Result<std::vector<ModelEntry>> scan_repository(const std::string& dir);
// The dependency check of scan_repository(); `entries` sorted by name.
Status check_dependencies(const std::vector<ModelEntry>& entries);
// Bytes of the weights file (the manager's memory estimate before a load).
Result<uint64_t> weights_file_size(const ModelConfig& config);

struct MakeOptions {
  int count = 1;                       // models mlp-0 .. mlp-{count-1}
  std::vector<int> dims = {256, 256, 256};  // layer widths: input, hidden..., output
  uint64_t seed = 42;                  // weights are deterministic from (seed, model index)
  std::string prefix = "mlp";
  // model.toml keys for the model manager, written when set.
  std::string preload;                  // "eager" | "lazy" | "none"
  std::optional<int> priority;
  std::vector<std::string> depends_on;  // model names
  std::string load_timeout;             // duration, e.g. "2s"
  std::string kind = "mlp";            // "mlp" (uses dims) or "tokens" (uses hidden)
  int hidden = 512;                    // tokens: recurrent state width; 512: ~22 µs a step (docs/PERFORMANCE.md)
};

// Writes `count` valid models of `kind` under `dir` (created if missing). Existing
// models of the same name are overwritten atomically (temp + rename).
Status make_repository(const std::string& dir, const MakeOptions& options);

}  // namespace servelab::models
