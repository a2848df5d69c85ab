// Streamer overhead per chunk: one write() through the streamer into a
// BodyWriter whose writes complete at once (no socket), i.e. what the
// streaming layer adds to each SSE event on top of the socket's own cost.
// Args: event bytes, gzip (0/1).

#include <benchmark/benchmark.h>

#include <string>

#include "stream/streamer.h"

namespace {

class InstantWriter : public servelab::http::BodyWriter {
 public:
  void write(std::span<const char> data, bool, Done done) override {
    benchmark::DoNotOptimize(data.data());
    done(true);
  }
  void abort() override {}
};

void BM_StreamerWrite(benchmark::State& state) {
  const std::string event(static_cast<size_t>(state.range(0)), 'e');
  servelab::stream::StreamConfig cfg;
  cfg.gzip = state.range(1) != 0;
  servelab::stream::StreamMetrics metrics;
  auto s = servelab::stream::Streamer::create(std::make_shared<InstantWriter>(), cfg, &metrics);
  for (auto _ : state) benchmark::DoNotOptimize(s->write(event));
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_StreamerWrite)
    ->ArgNames({"bytes", "gzip"})
    ->Args({160, 0})
    ->Args({160, 1})
    ->Args({4096, 0})
    ->Args({4096, 1});

}  // namespace

BENCHMARK_MAIN();
