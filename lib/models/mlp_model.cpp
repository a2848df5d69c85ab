#include "models/mlp_model.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "models/eigen_matrix.h"
#include "models/random_weights.h"

namespace servelab::models {

namespace {

// An F32 tensor of the expected rank with positive dimensions.
Result<const TensorInfo*> find_f32(const Safetensors& st, const std::string& name, size_t rank) {
  const TensorInfo* t = st.find(name);
  if (t == nullptr) return make_error(fmt::format("missing tensor '{}'", name));
  if (t->dtype != Dtype::F32)
    return make_error(fmt::format("tensor '{}' is {}, expected F32", name, to_string(t->dtype)));
  const bool positive =
      std::all_of(t->shape.begin(), t->shape.end(), [](int64_t d) { return d > 0; });
  if (t->shape.size() != rank || !positive)
    return make_error(fmt::format("tensor '{}' has shape {}, expected {} positive dimensions", name,
                                  shape_text(t->shape), rank));
  return t;
}

}  // namespace

Result<std::shared_ptr<const MlpModel>> MlpModel::create(ModelConfig config,
                                                         const Safetensors& weights) {
  std::shared_ptr<MlpModel> m(new MlpModel());
  m->config_ = std::move(config);

  for (size_t i = 0;; ++i) {
    const std::string wname = fmt::format("layers.{}.weight", i);
    if (i > 0 && weights.find(wname) == nullptr) break;
    auto w = find_f32(weights, wname, 2);
    if (!w) return std::move(w).error();
    const std::string bname = fmt::format("layers.{}.bias", i);
    auto b = find_f32(weights, bname, 1);
    if (!b) return std::move(b).error();

    Layer layer;
    layer.out = (*w)->shape[0];
    layer.in = (*w)->shape[1];
    if ((*b)->shape[0] != layer.out)
      return make_error(fmt::format("tensor '{}' has shape {}, expected [{}] to match '{}' {}",
                                    bname, shape_text((*b)->shape), layer.out, wname,
                                    shape_text((*w)->shape)));
    if (i > 0 && layer.in != m->layers_.back().out)
      return make_error(fmt::format(
          "tensor '{}' has shape {}: its input width {} does not match layer {}'s output width {}",
          wname, shape_text((*w)->shape), layer.in, i - 1, m->layers_.back().out));
    layer.weight = std::move(weights.floats(wname)).value();
    layer.bias = std::move(weights.floats(bname)).value();
    m->memory_bytes_ += (layer.weight.size() + layer.bias.size()) * sizeof(float);
    m->layers_.push_back(std::move(layer));
  }
  // Every tensor must belong to a layer: a stray or misnumbered tensor
  // (layers.3 after a missing layers.2) means the file is not what we think.
  if (weights.tensors().size() != 2 * m->layers_.size()) {
    for (const auto& t : weights.tensors()) {
      bool known = false;
      for (size_t i = 0; i < m->layers_.size() && !known; ++i)
        known = t.name == fmt::format("layers.{}.weight", i) ||
                t.name == fmt::format("layers.{}.bias", i);
      if (!known)
        return make_error(
            fmt::format("unexpected tensor '{}' (an mlp has layers.{{i}}.weight and "
                        "layers.{{i}}.bias for i = 0..{})",
                        t.name, m->layers_.size() - 1));
    }
  }

  m->input_width_ = m->layers_.front().in;
  m->output_width_ = m->layers_.back().out;
  for (size_t i = 0; i + 1 < m->layers_.size(); ++i)
    m->max_hidden_width_ = std::max(m->max_hidden_width_, m->layers_[i].out);
  m->inputs_ = {TensorSpec{"input", "FP32", {-1, m->input_width_}}};
  m->outputs_ = {TensorSpec{"output", "FP32", {-1, m->output_width_}}};
  return std::shared_ptr<const MlpModel>(std::move(m));
}

void MlpModel::infer(const float* input, int64_t rows, float* output) const {
  if (rows <= 0) return;
  // Two ping-pong buffers for the hidden activations, per thread and grown
  // only: after warm-up a forward pass allocates nothing.
  thread_local std::vector<float> scratch;
  const auto stride = static_cast<size_t>(rows * max_hidden_width_);
  if (scratch.size() < 2 * stride) scratch.resize(2 * stride);

  const float* x = input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    const bool last = i + 1 == layers_.size();
    float* y = last ? output : scratch.data() + (i % 2) * stride;
    const Eigen::Map<const RowMajorMatrix> xm(x, rows, l.in);
    const Eigen::Map<const Eigen::MatrixXf> wt(l.weight.data(), l.in, l.out);
    const Eigen::Map<const Eigen::RowVectorXf> b(l.bias.data(), l.out);
    Eigen::Map<RowMajorMatrix> ym(y, rows, l.out);
    ym.noalias() = xm * wt;
    if (last)
      ym.rowwise() += b;
    else
      ym = (ym.rowwise() + b).cwiseMax(0.0f);
    x = y;
  }
}

std::vector<F32Tensor> make_mlp_weights(const std::vector<int>& dims, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::vector<F32Tensor> tensors;
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    const int in = dims[l];
    const int out = dims[l + 1];
    // Variance 1/in (uniform on ±sqrt(3/in)) keeps each pre-activation's
    // variance near its input's, so activations stay bounded at any depth.
    const float a = std::sqrt(3.0f / static_cast<float>(in));
    F32Tensor w{fmt::format("layers.{}.weight", l), {out, in}, {}};
    w.values.resize(static_cast<size_t>(in) * static_cast<size_t>(out));
    for (float& v : w.values) v = uniform_weight(gen, a);
    F32Tensor b{fmt::format("layers.{}.bias", l), {out}, {}};
    b.values.resize(static_cast<size_t>(out));
    for (float& v : b.values) v = uniform_weight(gen, 0.1f);
    tensors.push_back(std::move(w));
    tensors.push_back(std::move(b));
  }
  return tensors;
}

}  // namespace servelab::models
