// The dynamic batcher's own cost, and the forward-pass ceiling it works
// against (docs/BATCHING.md).
//
// BM_BatcherRoundTrip: one request through RequestBatcher (enqueue → size
//   dispatch → execute → completion) with a no-op model, batch size as the
//   argument; `inline` runs batches on the submitting thread, `pool` on a
//   one-thread ComputePool (the server's arrangement, a thread handoff per batch).
// BM_Forward: the pure Eigen forward pass of a width×width×width MLP (two
//   layers) at a batch size; items_per_second = rows/s, the ceiling of served
//   rows/s at that mean batch size. Sizes come from SERVELAB_FORWARD_ROWS
//   (comma-separated, default 1,8,32,64) and the width from
//   SERVELAB_FORWARD_WIDTH (default 1024), so bench/batching.sh can measure
//   the ceiling at exactly the mean batch size it observed.

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "batch/compute_pool.h"
#include "batch/request_batcher.h"
#include "models/mlp_model.h"
#include "models/safetensors.h"

namespace {

using servelab::batch::BatchOutcome;
using servelab::batch::BatchRequest;
using servelab::batch::ComputePool;
using servelab::batch::RequestBatcher;

constexpr int64_t kWidth = 16;  // floats per row in the batcher benchmark

RequestBatcher::Options noop_options(int64_t batch, RequestBatcher::Post post) {
  RequestBatcher::Options o;
  o.config.max_batch_size = batch;
  o.config.max_queue_delay = std::chrono::seconds(10);  // size dispatch only
  o.config.queue_timeout = std::chrono::microseconds(0);
  o.config.max_queue_size = 1 << 20;
  o.input_width = kWidth;
  o.output_width = kWidth;
  o.execute = [](const float*, int64_t, float*) -> servelab::Status { return servelab::Ok{}; };
  o.post = std::move(post);
  return o;
}

void run_round_trips(benchmark::State& state, RequestBatcher& batcher,
                     std::atomic<int64_t>& completed) {
  const std::vector<float> input(kWidth, 0.5f);
  int64_t submitted = 0;
  for (auto _ : state) {
    BatchRequest req;
    req.input = input;
    req.rows = 1;
    req.done = [&completed](const BatchOutcome& o) {
      benchmark::DoNotOptimize(o.output);
      completed.fetch_add(1, std::memory_order_relaxed);
    };
    if (batcher.submit(std::move(req))) state.SkipWithError("refused");
    ++submitted;
  }
  batcher.shutdown();  // drains the partial last batch: every completion is counted
  if (completed.load() != submitted) state.SkipWithError("lost completions");
  state.SetItemsProcessed(submitted);
}

void BM_BatcherRoundTripInline(benchmark::State& state) {
  std::atomic<int64_t> completed{0};
  RequestBatcher batcher(noop_options(state.range(0), [](std::function<void()> task) { task(); }));
  run_round_trips(state, batcher, completed);
}
BENCHMARK(BM_BatcherRoundTripInline)->ArgName("batch")->Arg(1)->Arg(8)->Arg(32)->Arg(64);

void BM_BatcherRoundTripPool(benchmark::State& state) {
  std::atomic<int64_t> completed{0};
  ComputePool pool(1);
  RequestBatcher batcher(noop_options(
      state.range(0), [&pool](std::function<void()> task) { pool.post(std::move(task)); }));
  run_round_trips(state, batcher, completed);
}
BENCHMARK(BM_BatcherRoundTripPool)
    ->ArgName("batch")
    ->Arg(1)
    ->Arg(8)
    ->Arg(32)
    ->Arg(64)
    ->UseRealTime();

std::shared_ptr<const servelab::models::MlpModel> make_mlp(int64_t width) {
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<float> dist(-0.05f, 0.05f);
  std::vector<servelab::models::F32Tensor> tensors;
  for (int l = 0; l < 2; ++l) {
    servelab::models::F32Tensor w{"layers." + std::to_string(l) + ".weight", {width, width}, {}};
    w.values.resize(static_cast<size_t>(width * width));
    for (float& v : w.values) v = dist(gen);
    servelab::models::F32Tensor b{"layers." + std::to_string(l) + ".bias", {width}, {}};
    b.values.resize(static_cast<size_t>(width));
    for (float& v : b.values) v = dist(gen);
    tensors.push_back(std::move(w));
    tensors.push_back(std::move(b));
  }
  auto st = servelab::models::Safetensors::parse(servelab::models::serialize_safetensors(tensors));
  return std::move(servelab::models::MlpModel::create({}, st.value())).value();
}

void BM_Forward(benchmark::State& state, int64_t width, int64_t rows) {
  const auto model = make_mlp(width);
  std::vector<float> x(static_cast<size_t>(rows * width), 0.25f);
  std::vector<float> y(static_cast<size_t>(rows * width));
  for (auto _ : state) {
    model->infer(x.data(), rows, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * rows);
}

std::vector<int64_t> env_list(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  std::stringstream in(v && *v ? v : fallback);
  std::vector<int64_t> out;
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(std::stoll(item));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t width = env_list("SERVELAB_FORWARD_WIDTH", "1024").at(0);
  for (int64_t rows : env_list("SERVELAB_FORWARD_ROWS", "1,8,32,64")) {
    benchmark::RegisterBenchmark(
        ("BM_Forward/width:" + std::to_string(width) + "/batch:" + std::to_string(rows)).c_str(),
        BM_Forward, width, rows);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
