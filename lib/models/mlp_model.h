#pragma once
// Kind "mlp": dense layers with ReLU between them (not after the last),
// computed with Eigen. A batch of rows is one GEMM per layer, so batching
// really pays: the weights are streamed through the cache once per batch
// instead of once per row.
//
// Weights (safetensors, F32): `layers.{i}.weight` shape [out, in] and
// `layers.{i}.bias` shape [out] for i = 0..n-1; layer i's `in` equals layer
// i-1's `out`.

#include <cstdint>
#include <memory>
#include <vector>

#include "models/model.h"
#include "models/safetensors.h"

namespace servelab::models {

class MlpModel final : public Model {
 public:
  // Validates names, dtypes and shapes; error names the offending tensor.
  static Result<std::shared_ptr<const MlpModel>> create(ModelConfig config,
                                                        const Safetensors& weights);

  const ModelConfig& config() const override { return config_; }
  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }
  int64_t input_width() const override { return input_width_; }
  int64_t output_width() const override { return output_width_; }
  void infer(const float* input, int64_t rows, float* output) const override;
  size_t memory_bytes() const override { return memory_bytes_; }

  size_t layer_count() const { return layers_.size(); }

 private:
  struct Layer {
    int64_t in = 0;
    int64_t out = 0;
    // The row-major [out, in] tensor from the file, which is Wᵀ as an
    // [in, out] column-major matrix: the right operand of X·Wᵀ for a
    // row-major batch X [rows, in]. Eigen stays out of this header.
    std::vector<float> weight;
    std::vector<float> bias;  // [out]
  };

  MlpModel() = default;

  ModelConfig config_;
  std::vector<Layer> layers_;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  int64_t input_width_ = 0;
  int64_t output_width_ = 0;
  int64_t max_hidden_width_ = 0;  // widest intermediate activation (elements per row)
  size_t memory_bytes_ = 0;
};

// Tensors of a random mlp model with layer widths `dims` (input, hidden...,
// output; at least two), deterministic for `seed`, as `servelab models make`
// writes them.
std::vector<F32Tensor> make_mlp_weights(const std::vector<int>& dims, uint64_t seed);

}  // namespace servelab::models
