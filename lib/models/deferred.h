#pragma once
// Work the model manager must not do under its lock: callers' callbacks (a
// callback may call back into the manager, or take its time) and the
// destruction of models (freeing up to gigabytes of weights). Collected while
// the lock is held, run after it is released. Internal to lib/models.

#include <memory>
#include <utility>
#include <vector>

#include "models/model.h"
#include "models/model_manager.h"

namespace servelab::models {

struct Deferred {
  std::vector<std::pair<ModelManager::Done, Acquired>> callbacks;
  std::vector<std::shared_ptr<const Model>> dead;

  // REQUIRES: the manager's lock is not held.
  void run() {
    auto cbs = std::move(callbacks);
    callbacks.clear();
    for (auto& [done, answer] : cbs) {
      // Runs on a loader thread, where an exception would end the process.
      // A callback that throws (a log write to a full disk, an allocation)
      // loses only its own answer; the others still run.
      try {
        done(std::move(answer));
      } catch (...) {
      }
    }
    dead.clear();
  }
  bool empty() const { return callbacks.empty() && dead.empty(); }
};

}  // namespace servelab::models
