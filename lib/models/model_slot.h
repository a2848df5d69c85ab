#pragma once
// One model's bookkeeping inside the model manager (model_manager.cpp), shared
// with its memory budget, load scheduler and predictor. Internal to
// lib/models: nothing outside it includes this header.
//
// Thread-safety: every field is guarded by the manager's one mutex, except
// `abandon` (an atomic the loading thread polls without the lock) and the
// fields marked immutable after ModelManager::open(), which a running load
// reads without the lock (config, load_started while `running`).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/model.h"
#include "models/model_manager.h"

namespace servelab::models {

// Who asked for a load: a request (may evict), eager preload at start (never
// evicts), prediction (evicts only models scored well below it). The load
// queue serves a smaller value first.
enum class JobClass : uint8_t { demand = 0, eager = 1, predicted = 2 };

// Why a running load is being abandoned.
enum class Abandon : uint8_t { none, timeout, cancelled };

struct ModelSlot {
  ModelConfig config;           // immutable after open()
  std::string config_error;     // bad model.toml: failed for good; immutable after open()
  uint64_t estimate = 0;        // bytes: weights file size, counted while loading
  uint64_t estimate_total = 0;  // bytes, with every (transitive) dependency
  std::vector<int> deps;        // indices into the manager's slots; immutable after open()
  std::vector<int> dependents;  // likewise

  ModelState state = ModelState::unloaded;
  AcquireError fail_kind = AcquireError::none;
  std::string reason;  // failed: why
  std::shared_ptr<const Model> model;
  uint64_t memory = 0;      // bytes counted against the budget now
  uint32_t leases = 0;      // live ModelLease objects
  uint32_t pins = 0;        // dependents loading or in memory
  bool holds_pins = false;  // this model holds one pin on each dependency
  uint64_t last_used = 0;   // LRU tick (larger: more recent)
  double score = 0;         // the predictor's, see load_predictor.h

  bool queued = false;   // in the load queue
  bool running = false;  // a thread is loading it now
  int deps_pending = 0;  // loading, waiting for this many dependencies
  JobClass job = JobClass::demand;
  uint64_t seq = 0;                  // arrival order: FIFO among equals in the load queue
  std::vector<uint64_t> waiters;     // ids of the requests waiting for it
  std::atomic<bool> abandon{false};  // polled by the loading thread
  Abandon abandon_why = Abandon::none;
  std::chrono::steady_clock::time_point load_started;  // while running: immutable

  bool preloaded = false;      // loaded by a preload, not yet requested
  bool eager_settled = false;  // eager model: first attempt over
  bool user_unloaded = false;  // unloaded through the API: never predicted
};

// Sorted by model name, like ModelManager::configs(); the vector itself is
// immutable after open() (its slots are not).
using ModelSlots = std::vector<std::unique_ptr<ModelSlot>>;

}  // namespace servelab::models
