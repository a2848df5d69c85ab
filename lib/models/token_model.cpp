#include "models/token_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string>
#include <utility>

#include "models/eigen_matrix.h"
#include "models/random_weights.h"

namespace servelab::models {

namespace {

using Vector = Eigen::VectorXf;

// Token ids a completion may produce, in increasing order: the end token,
// '\n' and printable ASCII. 97 candidates.
constexpr std::array<uint8_t, 97> kCandidates = [] {
  std::array<uint8_t, 97> c{};
  size_t n = 0;
  c[n++] = TokenModel::kEndToken;
  c[n++] = '\n';
  for (int b = 32; b <= 126; ++b) c[n++] = static_cast<uint8_t>(b);
  return c;
}();

Result<std::vector<float>> take(const Safetensors& st, const std::string& name,
                                std::vector<int64_t> shape) {
  const TensorInfo* t = st.find(name);
  if (t == nullptr) return make_error(fmt::format("missing tensor '{}'", name));
  if (t->dtype != Dtype::F32)
    return make_error(fmt::format("tensor '{}' is {}, expected F32", name, to_string(t->dtype)));
  if (t->shape != shape)
    return make_error(fmt::format("tensor '{}' has shape {}, expected {}", name,
                                  shape_text(t->shape), shape_text(shape)));
  return st.floats(name);
}

// xorshift64* (Vigna): a fixed algorithm, so a seed gives the same tokens on
// every standard library (std::*_distribution does not promise that).
uint64_t next_random(uint64_t& s) {
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1DULL;
}

// Any seed (even 0) → a non-zero xorshift state.
uint64_t rng_state(uint64_t seed) {
  const uint64_t z = splitmix64(seed);
  return z == 0 ? 1 : z;
}

}  // namespace

Result<std::shared_ptr<const TokenModel>> TokenModel::create(ModelConfig config,
                                                             const Safetensors& weights) {
  std::shared_ptr<TokenModel> m(new TokenModel());
  m->config_ = std::move(config);
  const TensorInfo* e = weights.find("embedding");
  if (e == nullptr) return make_error("missing tensor 'embedding'");
  if (e->shape.size() != 2 || e->shape[0] != kVocab || e->shape[1] < 1)
    return make_error(fmt::format("tensor 'embedding' has shape {}, expected [256, hidden]",
                                  shape_text(e->shape)));
  const int64_t h = e->shape[1];
  m->hidden_ = h;
  auto emb = take(weights, "embedding", {kVocab, h});
  if (!emb) return std::move(emb).error();
  auto rec = take(weights, "recurrent.weight", {h, h});
  if (!rec) return std::move(rec).error();
  auto rec_b = take(weights, "recurrent.bias", {h});
  if (!rec_b) return std::move(rec_b).error();
  auto out = take(weights, "output.weight", {kVocab, h});
  if (!out) return std::move(out).error();
  auto out_b = take(weights, "output.bias", {kVocab});
  if (!out_b) return std::move(out_b).error();
  if (weights.tensors().size() != 5) {
    for (const auto& t : weights.tensors()) {
      if (t.name != "embedding" && t.name != "recurrent.weight" && t.name != "recurrent.bias" &&
          t.name != "output.weight" && t.name != "output.bias")
        return make_error(
            fmt::format("unexpected tensor '{}' (a tokens model has embedding, recurrent.weight, "
                        "recurrent.bias, output.weight, output.bias)",
                        t.name));
    }
  }
  m->embedding_ = std::move(*emb);
  m->recurrent_ = std::move(*rec);
  m->recurrent_bias_ = std::move(*rec_b);
  m->output_ = std::move(*out);
  m->output_bias_ = std::move(*out_b);
  m->memory_bytes_ = (m->embedding_.size() + m->recurrent_.size() + m->recurrent_bias_.size() +
                      m->output_.size() + m->output_bias_.size()) *
                     sizeof(float);
  m->inputs_ = {TensorSpec{"token", "FP32", {-1, 1}}};
  m->outputs_ = {TensorSpec{"logits", "FP32", {-1, kVocab}}};
  return std::shared_ptr<const TokenModel>(std::move(m));
}

TokenModel::State TokenModel::start(uint64_t seed) const {
  State s;
  const auto h = static_cast<size_t>(hidden_);
  s.h.assign(h, 0.0f);
  s.next_h.assign(h, 0.0f);
  s.logits.assign(static_cast<size_t>(kVocab), 0.0f);
  s.rng = rng_state(seed);
  return s;
}

void TokenModel::step(State& state, uint8_t token) const {
  const Eigen::Map<const RowMajorMatrix> w(recurrent_.data(), hidden_, hidden_);
  const Eigen::Map<const Vector> e(
      embedding_.data() + static_cast<size_t>(token) * static_cast<size_t>(hidden_), hidden_);
  const Eigen::Map<const Vector> b(recurrent_bias_.data(), hidden_);
  const Eigen::Map<const Vector> h(state.h.data(), hidden_);
  Eigen::Map<Vector> nh(state.next_h.data(), hidden_);
  nh.noalias() = w * h;
  nh = (nh + e + b).array().tanh().matrix();
  const Eigen::Map<const RowMajorMatrix> o(output_.data(), kVocab, hidden_);
  const Eigen::Map<const Vector> c(output_bias_.data(), kVocab);
  Eigen::Map<Vector> logits(state.logits.data(), kVocab);
  logits.noalias() = o * nh;
  logits += c;
  state.h.swap(state.next_h);
}

uint8_t TokenModel::sample(State& state, float temperature) const {
  const float* l = state.logits.data();
  uint8_t best = kCandidates[0];
  for (const uint8_t t : kCandidates)
    if (l[t] > l[best]) best = t;
  if (!(temperature > 0.0f)) return best;
  // softmax(l / T) over the candidates, shifted by the max for stability.
  std::array<float, kCandidates.size()> p{};
  float total = 0.0f;
  for (size_t i = 0; i < kCandidates.size(); ++i) {
    p[i] = std::exp((l[kCandidates[i]] - l[best]) / temperature);
    total += p[i];
  }
  const float u =
      static_cast<float>(next_random(state.rng) >> 40) * 0x1p-24f * total;  // [0, total)
  float acc = 0.0f;
  for (size_t i = 0; i < kCandidates.size(); ++i) {
    acc += p[i];
    if (u < acc) return kCandidates[i];
  }
  return best;  // rounding left u at the very top: the likeliest token
}

void TokenModel::infer(const float* input, int64_t rows, float* output) const {
  if (rows <= 0) return;
  // From the zero state W·h vanishes: h = tanh(E[token] + b) per row, then
  // one GEMM for the logits of the whole batch.
  thread_local std::vector<float> scratch;
  const auto n = static_cast<size_t>(rows * hidden_);
  if (scratch.size() < n) scratch.resize(n);
  Eigen::Map<RowMajorMatrix> x(scratch.data(), rows, hidden_);
  const Eigen::Map<const Eigen::RowVectorXf> b(recurrent_bias_.data(), hidden_);
  for (int64_t r = 0; r < rows; ++r) {
    const float v = input[r];
    const auto token = static_cast<size_t>(std::clamp(std::isfinite(v) ? v : 0.0f, 0.0f, 255.0f));
    const Eigen::Map<const Eigen::RowVectorXf> e(
        embedding_.data() + token * static_cast<size_t>(hidden_), hidden_);
    x.row(r) = (e + b).array().tanh().matrix();
  }
  const Eigen::Map<const Eigen::MatrixXf> ot(output_.data(), hidden_, kVocab);  // Oᵀ, column-major
  const Eigen::Map<const Eigen::RowVectorXf> c(output_bias_.data(), kVocab);
  Eigen::Map<RowMajorMatrix> y(output, rows, kVocab);
  y.noalias() = x * ot;
  y.rowwise() += c;
}

std::vector<F32Tensor> make_token_weights(int hidden, uint64_t seed) {
  std::mt19937_64 gen(seed);
  const auto h = static_cast<int64_t>(hidden);
  auto fill = [&](F32Tensor t, float a) {
    size_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<size_t>(d);
    t.values.resize(n);
    for (float& v : t.values) v = uniform_weight(gen, a);
    return t;
  };
  // Variance ~0.9/H keeps the recurrence contractive (no saturation, no
  // blow-up); the output scale gives logits a spread of a few units, so
  // sampling at temperature 1 is neither uniform nor greedy.
  const float rec = std::sqrt(2.7f / static_cast<float>(hidden));
  const float out = std::sqrt(3.0f * 4.0f / static_cast<float>(hidden));
  std::vector<F32Tensor> t;
  t.push_back(fill({"embedding", {TokenModel::kVocab, h}, {}}, 1.0f));
  t.push_back(fill({"recurrent.weight", {h, h}, {}}, rec));
  t.push_back(fill({"recurrent.bias", {h}, {}}, 0.1f));
  t.push_back(fill({"output.weight", {TokenModel::kVocab, h}, {}}, out));
  F32Tensor ob = fill({"output.bias", {TokenModel::kVocab}, {}}, 0.5f);
  // The end token gets a low bias (-6 against ±0.5) so that most completions
  // of random models run to max_tokens and load tests get the lengths they
  // ask for; some still stop early (about 2% of 1,000 streams within their
  // first few hundred tokens in bench/stream_rss.py).
  ob.values[TokenModel::kEndToken] = -6.0f;
  t.push_back(std::move(ob));
  return t;
}

TokenGenerator::TokenGenerator(std::shared_ptr<const TokenModel> model, std::string_view prompt,
                               float temperature, uint64_t seed)
    : TokenGenerator(std::move(model), temperature, seed) {
  feed(prompt);
}

TokenGenerator::TokenGenerator(std::shared_ptr<const TokenModel> model, float temperature,
                               uint64_t seed)
    : model_(std::move(model)), state_(model_->start(seed)), temperature_(temperature) {}

void TokenGenerator::feed(std::string_view piece) {
  for (const char ch : piece) model_->step(state_, static_cast<uint8_t>(ch));
  prompt_tokens_ += static_cast<int64_t>(piece.size());
}

uint8_t TokenGenerator::next() {
  if (prompt_tokens_ == 0) {  // the empty prompt: one start-of-text token
    model_->step(state_, TokenModel::kEndToken);
    prompt_tokens_ = 1;
  }
  // The previous token is fed in now, not when it was produced: the last
  // token of a completion costs no step.
  if (has_last_) model_->step(state_, last_);
  last_ = model_->sample(state_, temperature_);
  has_last_ = true;
  return last_;
}

}  // namespace servelab::models
