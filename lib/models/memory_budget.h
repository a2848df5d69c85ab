#pragma once
// The model manager's memory budget: the bytes of weights in memory (ready
// models, plus the estimates of running loads) against
// ManagerOptions::memory_budget, and which model to evict, least recently
// used first, to make room for a load. Internal to lib/models.
//
// Thread-safety: REQUIRES for every member: the manager's lock is held.

#include <cstdint>

#include "models/model_slot.h"

namespace servelab::models {

class MemoryBudget {
 public:
  explicit MemoryBudget(uint64_t budget) : budget_(budget) {}  // bytes; 0: unlimited

  uint64_t budget() const { return budget_; }  // bytes; 0: unlimited
  uint64_t used() const { return used_; }      // bytes counted now
  uint64_t peak() const { return peak_; }      // highest used() so far, bytes

  // False when `bytes` exceed the budget even with nothing else in memory:
  // a model that needs that much fails at once instead of waiting.
  bool could_fit(uint64_t bytes) const { return budget_ == 0 || bytes <= budget_; }

  // Makes `slot` count `bytes` against the budget (0: nothing).
  void account(ModelSlot& slot, uint64_t bytes);

  // Whether reserve() would find room for `candidate` and its dependencies
  // (estimate_total) by evicting what `policy` allows. Dependency pins are not
  // followed, so this is an estimate: the predictor's, which must not start
  // preloads that are doomed to be dropped.
  bool can_reserve(const ModelSlots& slots, const ModelSlot& candidate, JobClass policy) const;

  // Counts candidate.estimate against the budget, first calling
  // `evict(index)` on the least recently used model `policy` may evict, as
  // long as there is no room. `evict` must make that model leave memory
  // (account() it to 0). False when nothing more may be evicted: the
  // candidate is then not counted (the models evicted so far stay evicted).
  template <class Evict>
  bool reserve(const ModelSlots& slots, ModelSlot& candidate, JobClass policy, Evict&& evict) {
    if (budget_ != 0) {
      while (used_ + candidate.estimate > budget_) {
        const int victim = lru_victim(slots, candidate, policy);
        if (victim < 0) return false;
        evict(victim);
      }
    }
    account(candidate, candidate.estimate);
    return true;
  }

  // Index of the least recently used model that a load of `candidate` with
  // `policy` may evict, or -1. A model with a lease or a dependent in memory
  // is never a victim.
  int lru_victim(const ModelSlots& slots, const ModelSlot& candidate, JobClass policy) const;

 private:
  uint64_t budget_;
  uint64_t used_ = 0;
  uint64_t peak_ = 0;
};

}  // namespace servelab::models
