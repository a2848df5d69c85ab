// The cost of one clock read, which the generator pays per send, per
// completion and per piece of a streamed answer (lib/load/loop_core.h,
// event_time()). steady_clock is CLOCK_MONOTONIC through the vDSO: no
// system call while the kernel's clocksource allows it (tsc, kvm-clock).

#include <benchmark/benchmark.h>

#include <chrono>
#include <ctime>

static void BM_SteadyClockNow(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(std::chrono::steady_clock::now());
}
BENCHMARK(BM_SteadyClockNow);

static void BM_ClockGettimeMonotonic(benchmark::State& state) {
  timespec ts{};
  for (auto _ : state) {
    clock_gettime(CLOCK_MONOTONIC, &ts);
    benchmark::DoNotOptimize(ts);
  }
}
BENCHMARK(BM_ClockGettimeMonotonic);
