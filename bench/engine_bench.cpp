// Per-request bookkeeping cost of the load generator: what a worker does in
// Recorder::record() for every completed transfer (histograms, counters,
// status, mix entry, per-second timeline), and the weighted mix pick.
#include <benchmark/benchmark.h>

#include <vector>

#include "load/arrivals.h"
#include "load/plan.h"
#include "load/recorder.h"

namespace {

using servelab::load::Recorder;
using servelab::load::Sample;

void BM_RecorderRecord(benchmark::State& state) {
  Recorder rec(4, 60);
  uint64_t rng = 1;
  // Latencies spread over 100 µs .. ~100 ms, completion times over a minute.
  std::vector<Sample> samples(4096);
  for (size_t i = 0; i < samples.size(); ++i) {
    Sample& s = samples[i];
    s.latency = std::chrono::microseconds(
        100 + static_cast<int64_t>(servelab::load::splitmix64(rng) % 100'000));
    s.uncorrected = s.latency;
    s.at = std::chrono::microseconds(
        static_cast<int64_t>(servelab::load::splitmix64(rng) % 60'000'000));
    s.mix_index = static_cast<uint32_t>(i % 4);
    s.status = 200;
    s.bytes_in = 100;
    s.bytes_out = 60;
  }
  size_t i = 0;
  for (auto _ : state) {
    rec.record(samples[i++ & (samples.size() - 1)]);
  }
  benchmark::DoNotOptimize(rec.counters().requests);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RecorderRecord);

void BM_PickRequest(benchmark::State& state) {
  std::vector<double> cumulative;
  const auto n = static_cast<size_t>(state.range(0));
  for (size_t k = 1; k <= n; ++k)
    cumulative.push_back(static_cast<double>(k) / static_cast<double>(n));
  uint64_t rng = 7;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        servelab::load::pick_request(cumulative, servelab::load::uniform01(rng)));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PickRequest)->Arg(1)->Arg(8)->Arg(64);

}  // namespace
