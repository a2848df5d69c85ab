#include "models/memory_budget.h"

#include <algorithm>

namespace servelab::models {

namespace {

// A predicted preload may evict a model only if it scores this many times
// higher (hysteresis: two models of similar heat do not evict each other).
constexpr double kPredictEvictRatio = 2.0;

bool evictable(const ModelSlot& v) {
  return v.state == ModelState::ready && v.leases == 0 && v.pins == 0;
}

// Whether a load of `candidate` under `policy` may evict `v`.
bool may_evict(const ModelSlot& candidate, const ModelSlot& v, JobClass policy) {
  if (&v == &candidate || !evictable(v)) return false;
  switch (policy) {
    case JobClass::demand:
      return true;
    case JobClass::eager:
      return false;
    case JobClass::predicted:
      return v.score * kPredictEvictRatio < candidate.score;
  }
  return false;
}

}  // namespace

void MemoryBudget::account(ModelSlot& slot, uint64_t bytes) {
  used_ = used_ - slot.memory + bytes;
  slot.memory = bytes;
  peak_ = std::max(peak_, used_);
}

bool MemoryBudget::can_reserve(const ModelSlots& slots, const ModelSlot& candidate,
                               JobClass policy) const {
  if (budget_ == 0) return true;
  uint64_t room = budget_ > used_ ? budget_ - used_ : 0;
  for (const auto& v : slots)
    if (may_evict(candidate, *v, policy)) room += v->memory;
  return room >= candidate.estimate_total;
}

int MemoryBudget::lru_victim(const ModelSlots& slots, const ModelSlot& candidate,
                             JobClass policy) const {
  int victim = -1;
  for (size_t j = 0; j < slots.size(); ++j) {
    const ModelSlot& v = *slots[j];
    if (!may_evict(candidate, v, policy)) continue;
    if (victim < 0 || v.last_used < slots[static_cast<size_t>(victim)]->last_used)
      victim = static_cast<int>(j);
  }
  return victim;
}

}  // namespace servelab::models
