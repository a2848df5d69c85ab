#pragma once
// Writes model repositories of valid random models: what `servelab models
// make` and the runner's embedded server use, and what the tests load.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace servelab::models {

struct MakeOptions {
  int count = 1;                            // models <prefix>-0 .. <prefix>-{count-1}
  std::vector<int> dims = {256, 256, 256};  // mlp layer widths: input, hidden..., output
  uint64_t seed = 42;                       // weights are deterministic from (seed, model index)
  std::string prefix = "mlp";
  // model.toml keys for the model manager, written when set.
  std::string preload;  // "eager" | "lazy" | "none"
  std::optional<int> priority;
  std::vector<std::string> depends_on;  // model names
  std::string load_timeout;             // duration, e.g. "2s"
  std::string kind = "mlp";             // "mlp" (uses dims) or "tokens" (uses hidden)
  int hidden = 512;  // tokens: recurrent state width; 512: ~22 µs a step (docs/PERFORMANCE.md)
};

// Writes `count` valid models of `kind` under `dir` (created if missing), each
// with a model.toml that carries its weights' sha256. Existing models of the
// same name are overwritten atomically (temp + rename).
Status make_repository(const std::string& dir, const MakeOptions& options);

}  // namespace servelab::models
