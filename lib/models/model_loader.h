#pragma once
// Builds a model from its folder: reads the weights file (confined to the
// model folder), checks its SHA-256 against model.toml, parses the
// safetensors and builds the model of `kind`. The model manager runs this on
// a loader thread (async mode) or on the requesting thread (sync mode).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/result.h"
#include "models/model.h"

namespace servelab::models {

// Called between the steps of a load (after every 4 MiB read, before
// hashing, parsing and building): a reason to abandon the load (timeout,
// cancellation), or nullopt to go on. Lets the model manager bound a load.
using LoadCheck = std::function<std::optional<std::string>()>;

// Builds the model of `config.kind` from its weights file. Errors start with
// "<name>: weights file <weights>: "; with `check`, an abandoned load's error
// ends with the reason `check` gave. The file is validated before its weights
// are read: a file larger than `max_weights_bytes` (0: half the memory the
// process can still take, MemAvailable and its cgroup's limit) is refused
// from its size alone, and its safetensors header (length
// prefix, JSON, every tensor's dtype, shape and offsets) must be consistent
// with its size before memory is allocated for the data.
Result<std::shared_ptr<const Model>> load_model(const ModelConfig& config,
                                                const LoadCheck& check = {},
                                                uint64_t max_weights_bytes = 0);

// Bytes of the weights file (the manager's memory estimate before a load),
// with the same confinement checks as load_model().
Result<uint64_t> weights_file_size(const ModelConfig& config);

}  // namespace servelab::models
