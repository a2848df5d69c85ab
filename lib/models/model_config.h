#pragma once
// model.toml → ModelConfig (the keys are in docs/MODELS.md). Every error
// names file:line:column.

#include <string>
#include <string_view>

#include "common/result.h"
#include "models/model.h"

namespace servelab::models {

// Reads `model_dir`/model.toml. The model's name defaults to the folder's
// name and must equal it; `kind` is required; an unknown key is an error.
Result<ModelConfig> read_model_config(const std::string& model_dir);
// The same from model.toml's text: `source_name` is the path errors name,
// `model_dir` the canonical model folder (the name must equal its last part).
Result<ModelConfig> parse_model_config(std::string_view text, const std::string& source_name,
                                       const std::string& model_dir);

}  // namespace servelab::models
