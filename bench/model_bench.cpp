// Forward-pass cost of the `mlp` model kind: what one batched GEMM per layer
// costs at each batch size, i.e. what the dynamic batcher can buy.
// items_per_second = rows/s; FLOPS counts 2·in·out per row per layer.

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "models/mlp_model.h"
#include "models/safetensors.h"
#include "models/token_model.h"

namespace {

using servelab::models::F32Tensor;
using servelab::models::MlpModel;

std::shared_ptr<const MlpModel> make_mlp(const std::vector<int64_t>& dims) {
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  std::vector<F32Tensor> tensors;
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    F32Tensor w{"layers." + std::to_string(l) + ".weight", {dims[l + 1], dims[l]}, {}};
    w.values.resize(static_cast<size_t>(dims[l] * dims[l + 1]));
    for (float& v : w.values) v = dist(gen);
    F32Tensor b{"layers." + std::to_string(l) + ".bias", {dims[l + 1]}, {}};
    b.values.resize(static_cast<size_t>(dims[l + 1]));
    for (float& v : b.values) v = dist(gen);
    tensors.push_back(std::move(w));
    tensors.push_back(std::move(b));
  }
  auto st = servelab::models::Safetensors::parse(servelab::models::serialize_safetensors(tensors));
  return std::move(MlpModel::create({}, st.value())).value();
}

// Args: width (every layer width, input included), batch rows. Two layers.
void BM_MlpForward(benchmark::State& state) {
  const int64_t width = state.range(0);
  const int64_t rows = state.range(1);
  const auto model = make_mlp({width, width, width});
  std::vector<float> x(static_cast<size_t>(rows * width), 0.25f);
  std::vector<float> y(static_cast<size_t>(rows * width));
  for (auto _ : state) {
    model->infer(x.data(), rows, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const auto items = static_cast<double>(state.iterations() * rows);
  state.SetItemsProcessed(state.iterations() * rows);
  state.counters["FLOPS"] = benchmark::Counter(
      items * 2.0 * 2.0 * static_cast<double>(width * width), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_MlpForward)
    ->ArgNames({"width", "batch"})
    ->Args({1024, 1})
    ->Args({1024, 8})
    ->Args({1024, 32})
    ->Args({1024, 64})
    ->Args({256, 1});

}  // namespace

// One generation step of the `tokens` kind (recurrent matvec H×H, output
// matvec 256×H, sampling): the per-token cost behind /v1/completions.
// Arg: hidden width.
void BM_TokenStep(benchmark::State& state) {
  const auto hidden = static_cast<int>(state.range(0));
  auto st = servelab::models::Safetensors::parse(
      servelab::models::serialize_safetensors(servelab::models::make_token_weights(hidden, 1)));
  auto model = std::move(servelab::models::TokenModel::create({}, st.value())).value();
  servelab::models::TokenGenerator gen(model, "Once upon a time", 1.0f, 7);
  for (auto _ : state) benchmark::DoNotOptimize(gen.next());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TokenStep)->ArgName("hidden")->Arg(128)->Arg(256)->Arg(512)->Arg(1024);
