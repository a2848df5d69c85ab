#pragma once
// A loaded model and the configuration read from its folder's model.toml.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace servelab::models {

enum class Preload { eager, lazy, none };

// model.toml's `[batching]` table: this model's overrides of the server's
// batching defaults (lib/batch BatchConfig, docs/BATCHING.md). An unset key
// keeps the server's value.
struct BatchingOverrides {
  std::optional<int64_t> max_batch_size;  // rows, >= 1
  std::optional<std::chrono::microseconds> max_queue_delay;
  std::optional<std::vector<int64_t>> preferred_batch_sizes;  // rows, each >= 1
  std::optional<int64_t> max_queue_size;                      // requests, >= 1
  std::optional<std::chrono::microseconds> queue_timeout;     // 0: none
  std::optional<bool> adaptive;
  std::optional<std::chrono::microseconds> target_batch_time;  // > 0
  std::optional<bool> preserve_ordering;
};

// model.toml (read by read_model_config(), model_config.h; keys in docs/MODELS.md).
struct ModelConfig {
  std::string name;                           // unique in the repository; equals the folder name
  std::string kind;                           // "mlp" or "tokens"
  std::string weights = "model.safetensors";  // relative to the model folder, confined to it
  std::string sha256;                         // hex digest of the weights file; empty: not checked
  std::vector<std::string> depends_on;
  int priority = 0;  // higher loads first
  Preload preload = Preload::eager;
  std::chrono::milliseconds load_timeout = std::chrono::seconds(30);
  std::string dir;             // absolute path of the model folder
  BatchingOverrides batching;  // [batching]
};

// One tensor of the model's signature (v2 metadata).
struct TensorSpec {
  std::string name;
  std::string datatype = "FP32";
  std::vector<int64_t> shape;  // -1 = variable (the batch dimension)
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual const std::vector<TensorSpec>& inputs() const = 0;
  virtual const std::vector<TensorSpec>& outputs() const = 0;
  virtual int64_t input_width() const = 0;   // elements per input row
  virtual int64_t output_width() const = 0;  // elements per output row
  // Forward pass over `rows` rows. REQUIRES: input has rows*input_width()
  // elements, output room for rows*output_width(). Thread-safe (const).
  virtual void infer(const float* input, int64_t rows, float* output) const = 0;
  // Bytes of weights held in memory (for budgets and metrics).
  virtual size_t memory_bytes() const = 0;
};

}  // namespace servelab::models
