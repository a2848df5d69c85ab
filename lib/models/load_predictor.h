#pragma once
// The model manager's predictor (async mode with ManagerOptions::prediction):
// a ring of the last `history` requested models. Every `interval` each model
// scores the sum of kDecay^age over its requests in the ring (age 0 = newest),
// which mixes how often and how recently it was asked for; the best-scored
// model that is not in memory and fits is preloaded. Internal to lib/models.
//
// Thread-safety: REQUIRES for every member: the manager's lock is held.

#include <chrono>
#include <cstddef>
#include <vector>

#include "models/memory_budget.h"
#include "models/model_slot.h"

namespace servelab::models {

class LoadPredictor {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // Disabled: records nothing and is never due. `history` >= 1 requests.
  LoadPredictor(bool enabled, size_t history, std::chrono::milliseconds interval, TimePoint now);

  bool enabled() const { return enabled_; }
  // Notes a request for the model at `index` (no-op when disabled).
  void record(int index);
  // True when no request has been recorded yet.
  bool empty() const { return size_ == 0; }

  // When the predictor wants to run next; TimePoint::max() when disabled.
  TimePoint next_run() const { return enabled_ ? next_run_ : TimePoint::max(); }
  bool due(TimePoint now) const { return enabled_ && now >= next_run_; }
  // The predictor ran at `now`: the next run is one interval later.
  void ran(TimePoint now) { next_run_ = now + interval_; }

  // Writes every slot's score from the history.
  void score(ModelSlots& slots) const;
  // Index of the best-scored model worth a preload, or -1: unloaded, a valid
  // model.toml, not `preload = "none"`, not unloaded through the API, a score
  // of at least kMinScore, and room in `budget` by evicting only much colder
  // models. REQUIRES: score() ran since the last record().
  int choose(const ModelSlots& slots, const MemoryBudget& budget) const;

  // Weight of a request one position older than another (per request).
  static constexpr double kDecay = 0.98;
  // Least score worth a preload (about one request in the last ~35).
  static constexpr double kMinScore = 0.5;

 private:
  bool enabled_;
  std::vector<int> ring_;  // model indices; the last `size_` entries before `next_` are valid
  size_t next_ = 0;
  size_t size_ = 0;
  std::chrono::milliseconds interval_;
  TimePoint next_run_;
};

}  // namespace servelab::models
