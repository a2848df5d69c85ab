#pragma once
// A Plan is a scenario resolved against a target: every request is prepared
// (absolute URL, header lines, body bytes) before the run, so the engine
// builds nothing per request (h2load `h1reqs`). Planning does no I/O: what
// it needs from the target (each infer model's input) is handed in.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "scenario/scenario.h"

namespace servelab::load {

struct PreparedRequest {             // built before the run; nothing is built per request
  std::string name;                  // from RequestSpec::name
  double weight = 1.0;               // from RequestSpec::weight (> 0)
  std::string method, url;           // absolute URL
  std::vector<std::string> headers;  // "Name: value" lines
  std::string body;
  // kind = "generate": `body` is bodies[0]; with several prompts the worker
  // draws one of `bodies` per request. The answer is followed by a
  // GenerateTracker (TTFT, ITL, tokens).
  bool generate = false;
  std::vector<std::string> bodies;
  int max_tokens = 0;
};

struct Plan {
  scenario::LoadConfig load;  // copy of the scenario's load section
  scenario::Toggles toggles;
  scenario::PoolConfig pool;  // [pool], [tls], [http]: applied by pool::CurlPool
  scenario::TlsConfig tls;
  scenario::HttpConfig http;
  std::string base_url;  // "http://127.0.0.1:PORT"
  std::vector<PreparedRequest> requests;
  // cumulative_weights[i] = sum of weights of requests[0..i], normalized so
  // that the last is 1.0: a uniform draw u in [0,1) picks the first i with
  // u < cumulative_weights[i] (the weighted mix).
  std::vector<double> cumulative_weights;
  uint64_t seed = 1;  // mix selection / poisson arrivals deterministic
};

// A model's first input tensor, as its KServe v2 metadata describes it.
struct ModelInput {
  std::string name;   // the input tensor's name
  int64_t width = 0;  // its last dimension (the feature width)
};
using ModelInputs = std::map<std::string, ModelInput>;  // model name → its input

// The models whose input make_plan needs, in request order, each once: the
// model of each infer request, or the first of its spread (all models of a
// spread take the same input).
std::vector<std::string> models_needing_input(const scenario::Scenario& s);

// The JSON body of a generate request for `prompt`: model, prompt,
// max_tokens, stream, temperature, seed (when given), then extra_body's fields.
std::string generate_body(const scenario::RequestSpec& spec, const std::string& prompt);

// Prepares every request against `base_url`. An infer request gets a v2
// JSON body with deterministic FP32 data from RequestSpec::seed, shaped
// [rows, width] from `inputs` (every model of models_needing_input() must be
// there; an http/generate-only scenario needs none).
Result<Plan> make_plan(const scenario::Scenario& s, const std::string& base_url,
                       const ModelInputs& inputs = {});

// The share of each model of an infer request spread over spec.models
// (uniform, Zipf 1/i^s by list position from 1, or explicit weights),
// summing to 1. Error when there are no models or no positive weight.
Result<std::vector<double>> spread_weights(const scenario::RequestSpec& spec);

// Index into plan.requests for a uniform draw u in [0,1) (binary search over
// cumulative_weights). REQUIRES: !cumulative_weights.empty()
size_t pick_request(const std::vector<double>& cumulative_weights, double u) noexcept;

}  // namespace servelab::load
