#include "models/load_predictor.h"

#include <algorithm>

namespace servelab::models {

LoadPredictor::LoadPredictor(bool enabled, size_t history, std::chrono::milliseconds interval,
                             TimePoint now)
    : enabled_(enabled), interval_(interval), next_run_(now + interval) {
  if (enabled_) ring_.assign(std::max<size_t>(1, history), -1);
}

void LoadPredictor::record(int index) {
  if (!enabled_) return;
  ring_[next_] = index;
  next_ = (next_ + 1) % ring_.size();
  size_ = std::min(size_ + 1, ring_.size());
}

void LoadPredictor::score(ModelSlots& slots) const {
  for (auto& s : slots) s->score = 0;
  double weight = 1;
  for (size_t age = 0; age < size_; ++age) {
    const size_t pos = (next_ + ring_.size() - 1 - age) % ring_.size();
    slots[static_cast<size_t>(ring_[pos])]->score += weight;
    weight *= kDecay;
  }
}

int LoadPredictor::choose(const ModelSlots& slots, const MemoryBudget& budget) const {
  int best = -1;
  for (size_t j = 0; j < slots.size(); ++j) {
    const ModelSlot& s = *slots[j];
    if (s.state != ModelState::unloaded || !s.config_error.empty() ||
        s.config.preload == Preload::none || s.user_unloaded || s.score < kMinScore)
      continue;
    if (!budget.could_fit(s.estimate_total)) continue;
    if (best >= 0 && s.score <= slots[static_cast<size_t>(best)]->score) continue;
    if (!budget.can_reserve(slots, s, JobClass::predicted)) continue;
    best = static_cast<int>(j);
  }
  return best;
}

}  // namespace servelab::models
