#pragma once
// What planning needs from a live target: each infer model's input, read
// from its KServe v2 metadata (GET {base_url}/v2/models/{model}). Asking for
// a model's metadata makes the reference server load it, so only the models
// of load::models_needing_input() are asked, once each.

#include <chrono>
#include <string>

#include "common/result.h"
#include "load/plan.h"
#include "scenario/scenario.h"

namespace servelab::runner {

// How long each metadata request may take.
inline constexpr std::chrono::milliseconds kMetadataTimeout{5'000};

// The first input of a v2 metadata document `body` of `model` (fetched from
// `url`, for messages): {"inputs":[{"name","datatype":"FP32","shape":[-1, W]}]}.
// The last dimension is the feature width; a leading -1 is the variable
// batch dimension. Errors name the model, the URL and what is wrong.
Result<load::ModelInput> parse_model_input(const std::string& model, const std::string& url,
                                           const std::string& body);

// Fetches and parses the input of every model the scenario's plan needs.
// Errors name the URL and the HTTP status or transport failure.
Result<load::ModelInputs> fetch_model_inputs(const scenario::Scenario& s,
                                             const std::string& base_url);

}  // namespace servelab::runner
