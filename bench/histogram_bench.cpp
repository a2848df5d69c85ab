// Micro-benchmarks of the latency histogram: the per-request cost (record)
// and the per-report costs (percentile query, merge, encode/decode).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "measure/histogram.h"

namespace {

using servelab::measure::Histogram;

// Latencies spread log-uniformly over 1 µs .. 1 h, so every bucket range is hit.
std::vector<int64_t> random_values(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> exponent(0.0, 9.556);  // log10(3.6e9)
  std::vector<int64_t> v(n);
  for (auto& x : v) x = static_cast<int64_t>(std::pow(10.0, exponent(rng)));
  return v;
}

Histogram filled(size_t n, uint32_t seed) {
  Histogram h;
  for (int64_t v : random_values(n, seed)) h.record(v);
  return h;
}

void BM_Record(benchmark::State& state) {
  const auto values = random_values(1 << 16, 1);  // power of two: index by mask
  Histogram h;
  size_t i = 0;
  for (auto _ : state) {
    h.record(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Record);

void BM_ValueAtPercentile(benchmark::State& state) {
  const Histogram h = filled(1'000'000, 2);
  const double p = static_cast<double>(state.range(0)) / 10.0;
  for (auto _ : state) benchmark::DoNotOptimize(h.value_at_percentile(p));
}
BENCHMARK(BM_ValueAtPercentile)->Arg(500)->Arg(990)->Arg(999);

void BM_Merge(benchmark::State& state) {
  const Histogram part = filled(100'000, 3);
  Histogram total;
  for (auto _ : state) benchmark::DoNotOptimize(total.merge(part).ok());
}
BENCHMARK(BM_Merge);

void BM_Encode(benchmark::State& state) {
  const Histogram h = filled(static_cast<size_t>(state.range(0)), 4);
  size_t bytes = 0;
  for (auto _ : state) {
    auto text = h.encode();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["encoded_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Encode)->Arg(1'000)->Arg(1'000'000);

void BM_Decode(benchmark::State& state) {
  const std::string text = filled(1'000'000, 5).encode();
  for (auto _ : state) benchmark::DoNotOptimize(Histogram::decode(text).ok());
}
BENCHMARK(BM_Decode);

void BM_PercentileSpectrum(benchmark::State& state) {
  const Histogram h = filled(1'000'000, 6);
  for (auto _ : state) benchmark::DoNotOptimize(h.percentile_spectrum(5).size());
}
BENCHMARK(BM_PercentileSpectrum);

}  // namespace
