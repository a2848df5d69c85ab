#pragma once
// The load generator engine: it chooses the transport (libcurl or native),
// starts the worker threads, each a LoopCore with its own epoll loop and its
// own Recorder, and merges the recorders after the join (wrk2 thread_main +
// hdr_add). Nothing is shared between workers per request.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/result.h"
#include "load/plan.h"
#include "load/run_stats.h"

namespace servelab::load {

struct Progress {  // a live snapshot, published by workers about every 100 ms
  // Since the start of the measured phase; during warmup it counts from the
  // start of the warmup and in_warmup is set.
  std::chrono::microseconds elapsed{0};
  bool in_warmup = false;
  uint64_t requests = 0, errors = 0;  // of the current phase so far, all threads
  double rps = 0;                     // over the last second
  int64_t p99_us =
      0;  // of the measured phase so far (approximate: merged from per-thread snapshots)
};
using ProgressFn = std::function<void(const Progress&)>;  // called on the caller's thread

// Why the native transport cannot run this plan (https, several origins,
// HTTP/2, generate requests, [pool] settings only libcurl applies), or
// nullopt when it can.
std::optional<std::string> native_unsupported(const Plan& plan);

// The engine that runs `plan`: load.engine, with "auto" resolved to native
// when native_unsupported() finds nothing (plain http://, one origin), else
// curl. An error when "native" is asked for and cannot run the plan. The one
// place that decides which transport runs.
Result<scenario::EngineKind> choose_engine(const Plan& plan);

// Runs the plan on the transport choose_engine() picks: `load.threads`
// worker threads, each with its own epoll loop and its own Recorder, merged
// after the join. `stop` (set from a signal handler thread) ends the run early: the
// result is then marked partial. `progress` (may be empty) is called about
// every 500 ms from the calling thread while workers run.
Result<RunStats> run(const Plan& plan, const std::atomic<bool>& stop, const ProgressFn& progress);

}  // namespace servelab::load
