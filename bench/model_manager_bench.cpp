// The model manager's costs (docs/PERFORMANCE.md "Model manager"):
//  - BM_AcquireReady: a request for a ready model (lock, LRU tick, history,
//    lease with its pin, callback on the calling thread, lease dropped), the
//    price every request pays in front of the forward pass.
//  - BM_ColdLoad: a whole load of one model through the manager (read, SHA-256,
//    parse, build) then an explicit unload, by model size (width of 4 square
//    layers: 1024 → 16 MiB of weights, 2048 → 64 MiB).

#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>

#include "models/model_manager.h"
#include "models/repository_maker.h"

namespace {

namespace fs = std::filesystem;
using namespace servelab::models;

fs::path make_repo(const std::string& tag, int width, int count) {
  const fs::path dir =
      fs::temp_directory_path() / ("servelab-bench-" + tag + "-" + std::to_string(width));
  MakeOptions o;
  o.count = count;
  o.dims = {width, width, width, width, width};
  o.preload = "lazy";
  if (!make_repository(dir.string(), o).ok()) std::abort();
  return dir;
}

void BM_AcquireReady(benchmark::State& state) {
  const fs::path dir = make_repo("acquire", 16, 1);
  auto m = std::move(ModelManager::open(dir.string(), {})).value();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::hours(1);
  int64_t ok = 0;
  m->acquire("mlp-0", deadline, [&](Acquired a) { ok += a.ok(); });  // loads once
  while (m->status("mlp-0").state != ModelState::ready) {
  }
  for (auto _ : state) m->acquire("mlp-0", deadline, [&](Acquired a) { ok += a.ok(); });
  benchmark::DoNotOptimize(ok);
  state.SetItemsProcessed(state.iterations());
  m.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_AcquireReady);

void BM_ColdLoad(benchmark::State& state) {
  const int width = static_cast<int>(state.range(0));
  const fs::path dir = make_repo("load", width, 1);
  ManagerOptions o;
  o.prediction = false;
  auto m = std::move(ModelManager::open(dir.string(), o)).value();
  for (auto _ : state) {
    // Block (no spinning: on 2 cores a spinning waiter slows the loader).
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    m->load("mlp-0", [&](servelab::Status s) {
      if (!s.ok()) std::abort();
      std::lock_guard lk(mu);
      done = true;
      cv.notify_one();
    });
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return done; });
    }
    state.PauseTiming();
    if (!m->unload("mlp-0", false).ok()) std::abort();
    state.ResumeTiming();
  }
  state.SetBytesProcessed(state.iterations() * int64_t{4} * width * width * 4);
  const auto s = m->stats();
  state.counters["loads"] = static_cast<double>(s.loads);
  state.counters["load_p50_ms"] =
      static_cast<double>(s.load_time_us.value_at_percentile(50)) / 1000.0;
  m.reset();
  fs::remove_all(dir);
}
BENCHMARK(BM_ColdLoad)->Arg(1024)->Arg(2048)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
