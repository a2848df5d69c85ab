#pragma once
// Kind "tokens": a small recurrent next-token model over a byte-level
// vocabulary (256 tokens: token b is the byte b), for POST /v1/completions.
// One generation step is real Eigen work:
//   h' = tanh(E[token] + W·h + b)        E [256, H], W [H, H], b [H]
//   logits = O·h' + c                    O [256, H], c [256]
// Prefill runs one step per prompt byte; then each generated token is
// sampled from the logits and fed back in.
//
// Weights (safetensors, F32): `embedding` [256, H], `recurrent.weight`
// [H, H], `recurrent.bias` [H], `output.weight` [256, H], `output.bias` [256].
//
// Sampling is restricted to the tokens a completion can carry as text:
// printable ASCII (32..126) and '\n', plus token 0 (NUL), which ends the
// completion (finish_reason "stop") and is not part of the text. So every
// completion is valid UTF-8 and its text is the bytes of its tokens.
//
// The v2 `infer` route sees the model as one step from the zero state:
// input [rows, 1] (a token id per row), output [rows, 256] (its logits).

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "models/model.h"
#include "models/safetensors.h"

namespace servelab::models {

class TokenModel final : public Model {
 public:
  static constexpr int64_t kVocab = 256;
  static constexpr uint8_t kEndToken = 0;  // ends a completion ("stop")

  // Validates names, dtypes and shapes; error names the offending tensor.
  static Result<std::shared_ptr<const TokenModel>> create(ModelConfig config,
                                                          const Safetensors& weights);

  const ModelConfig& config() const override { return config_; }
  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }
  int64_t input_width() const override { return 1; }
  int64_t output_width() const override { return kVocab; }
  void infer(const float* input, int64_t rows, float* output) const override;
  size_t memory_bytes() const override { return memory_bytes_; }

  int64_t hidden() const { return hidden_; }

  // The recurrent state of one generation. Its buffers are sized once by
  // start(); steps allocate nothing.
  struct State {
    std::vector<float> h;       // [H]
    std::vector<float> next_h;  // [H], scratch
    std::vector<float> logits;  // [256], after the last step
    uint64_t rng = 0;           // xorshift64* state of the sampler
  };
  State start(uint64_t seed) const;
  // One step: feeds `token`, updates h and the logits.
  void step(State& state, uint8_t token) const;
  // Picks the next token from state.logits: argmax when temperature <= 0,
  // else a sample of softmax(logits / temperature), deterministic for a
  // seed. Only text tokens and kEndToken are candidates (see above).
  uint8_t sample(State& state, float temperature) const;

 private:
  TokenModel() = default;

  ModelConfig config_;
  int64_t hidden_ = 0;
  // Row-major [256, H] and [H, H] tensors from the file; see token_model.cpp
  // for how Eigen maps them.
  std::vector<float> embedding_;
  std::vector<float> recurrent_;
  std::vector<float> recurrent_bias_;
  std::vector<float> output_;
  std::vector<float> output_bias_;
  std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  size_t memory_bytes_ = 0;
};

// Tensors of a random tokens model of hidden width `hidden` (deterministic
// for `seed`), as `servelab models make --kind tokens` writes them.
std::vector<F32Tensor> make_token_weights(int hidden, uint64_t seed);

// A completion in progress: prefill over the prompt, then one token per
// next() call. Owns its State; holds the model by shared_ptr.
//
// The prompt may be fed whole (the first constructor) or in pieces with
// feed() (chunked prefill): prefill costs one step per prompt byte (tens of
// µs each at hidden 512), so a server feeds a long prompt a chunk at a time
// and can yield its thread or stop between chunks. Both give the same state.
class TokenGenerator {
 public:
  // An empty prompt is fed as one kEndToken (a start-of-text token).
  TokenGenerator(std::shared_ptr<const TokenModel> model, std::string_view prompt,
                 float temperature, uint64_t seed);
  // A generation whose prompt comes through feed().
  TokenGenerator(std::shared_ptr<const TokenModel> model, float temperature, uint64_t seed);
  // Prefills `piece`, the next bytes of the prompt (one step per byte).
  // REQUIRES: before the first next(). Nothing fed at all: the empty prompt.
  void feed(std::string_view piece);
  // The next token (a text byte), or kEndToken when the model chose to stop.
  // After kEndToken, REQUIRES: not called again.
  uint8_t next();
  int64_t prompt_tokens() const { return prompt_tokens_; }

 private:
  std::shared_ptr<const TokenModel> model_;
  TokenModel::State state_;
  float temperature_;
  int64_t prompt_tokens_ = 0;
  uint8_t last_ = 0;       // the token next() returned last
  bool has_last_ = false;  // last_ is not yet fed into the state
};

}  // namespace servelab::models
