#pragma once
// The load generator engine: worker threads, each running its own libcurl
// multi handle on its own epoll loop (curl docs/examples/ephiperfifo.c), each
// recording into its own Recorder; recorders are merged after the join (wrk2
// thread_main + hdr_add). Nothing is shared between workers per request.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "common/result.h"
#include "load/plan.h"
#include "load/run_stats.h"

namespace servelab::load {

struct Progress {                   // a live snapshot, published by workers about every 100 ms
  // Since the start of the measured phase; during warmup it counts from the
  // start of the warmup and in_warmup is set.
  std::chrono::microseconds elapsed{0};
  bool in_warmup = false;
  uint64_t requests = 0, errors = 0;  // of the current phase so far, all threads
  double rps = 0;                   // over the last second
  int64_t p99_us = 0;               // of the measured phase so far (approximate: merged from per-thread snapshots)
};
using ProgressFn = std::function<void(const Progress&)>;  // called on the caller's thread

// The engine that runs `plan`: load.engine, with "auto" resolved to native
// when native_unsupported() finds nothing (plain http://, one origin), else
// curl. An error when "native" is asked for and cannot run the plan.
Result<scenario::EngineKind> choose_engine(const Plan& plan);

// Runs the plan: `load.threads` worker threads, each with its own libcurl
// multi handle driven by its own epoll loop, its own Recorder; merged after
// join. `stop` (set from a signal handler thread) ends the run early: the
// result is then marked partial. `progress` (may be empty) is called about
// every 500 ms from the calling thread while workers run.
Result<RunStats> run(const Plan& plan, const std::atomic<bool>& stop, const ProgressFn& progress);

}  // namespace servelab::load
