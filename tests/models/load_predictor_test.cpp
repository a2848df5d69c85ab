// LoadPredictor: scores from the request history and the choice of what to
// preload, over hand-built slots (no files, no threads).

#include "models/load_predictor.h"

#include <gtest/gtest.h>

#include <cmath>

namespace servelab::models {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

ModelSlots unloaded_slots(size_t n, uint64_t bytes = 100) {
  ModelSlots slots;
  for (size_t i = 0; i < n; ++i) {
    slots.push_back(std::make_unique<ModelSlot>());
    slots.back()->config.preload = Preload::lazy;
    slots.back()->estimate = bytes;
    slots.back()->estimate_total = bytes;
  }
  return slots;
}

TEST(LoadPredictor, ScoresMixFrequencyAndRecency) {
  ModelSlots slots = unloaded_slots(3);
  LoadPredictor p(true, 256, 20ms, Clock::now());
  for (const int m : {0, 0, 0, 1}) p.record(m);  // 1 is the newest
  p.score(slots);
  constexpr double d = LoadPredictor::kDecay;
  EXPECT_DOUBLE_EQ(slots[1]->score, 1.0);
  EXPECT_DOUBLE_EQ(slots[0]->score, d + d * d + d * d * d);
  EXPECT_DOUBLE_EQ(slots[2]->score, 0.0);
}

TEST(LoadPredictor, HistoryKeepsOnlyTheLastRequests) {
  ModelSlots slots = unloaded_slots(2);
  LoadPredictor p(true, 3, 20ms, Clock::now());
  for (const int m : {0, 0, 0, 1, 1, 1}) p.record(m);
  p.score(slots);
  EXPECT_DOUBLE_EQ(slots[0]->score, 0.0);
  constexpr double d = LoadPredictor::kDecay;
  EXPECT_DOUBLE_EQ(slots[1]->score, 1 + d + d * d);
}

TEST(LoadPredictor, DisabledRecordsNothingAndIsNeverDue) {
  const auto now = Clock::now();
  LoadPredictor p(false, 256, 20ms, now);
  p.record(0);
  EXPECT_TRUE(p.empty());
  EXPECT_FALSE(p.due(now + 1h));
  EXPECT_EQ(p.next_run(), Clock::time_point::max());
}

TEST(LoadPredictor, RunsOncePerInterval) {
  const auto t0 = Clock::now();
  LoadPredictor p(true, 256, 20ms, t0);
  EXPECT_EQ(p.next_run(), t0 + 20ms);
  EXPECT_FALSE(p.due(t0 + 19ms));
  EXPECT_TRUE(p.due(t0 + 20ms));
  p.ran(t0 + 25ms);
  EXPECT_FALSE(p.due(t0 + 44ms));
  EXPECT_TRUE(p.due(t0 + 45ms));
}

TEST(LoadPredictor, ChoosesTheHottestModelNotInMemory) {
  ModelSlots slots = unloaded_slots(3);
  slots[0]->state = ModelState::ready;  // hottest, but already in memory
  LoadPredictor p(true, 256, 20ms, Clock::now());
  for (const int m : {2, 1, 1, 0, 0, 0}) p.record(m);
  p.score(slots);
  const MemoryBudget unlimited(0);
  EXPECT_EQ(p.choose(slots, unlimited), 1);
}

TEST(LoadPredictor, LeavesAloneWhatMayNotBePreloaded) {
  LoadPredictor p(true, 256, 20ms, Clock::now());
  p.record(0);
  const MemoryBudget unlimited(0);
  const auto choice = [&](auto&& change, const MemoryBudget& budget) {
    ModelSlots slots = unloaded_slots(1);
    change(*slots[0]);
    p.score(slots);
    return p.choose(slots, budget);
  };
  EXPECT_EQ(choice([](ModelSlot&) {}, unlimited), 0);
  EXPECT_EQ(choice([](ModelSlot& s) { s.config.preload = Preload::none; }, unlimited), -1);
  EXPECT_EQ(choice([](ModelSlot& s) { s.user_unloaded = true; }, unlimited), -1);
  EXPECT_EQ(choice([](ModelSlot& s) { s.config_error = "bad model.toml"; }, unlimited), -1);
  EXPECT_EQ(choice([](ModelSlot& s) { s.state = ModelState::failed; }, unlimited), -1);
  EXPECT_EQ(choice([](ModelSlot& s) { s.state = ModelState::loading; }, unlimited), -1);
  EXPECT_EQ(choice([](ModelSlot&) {}, MemoryBudget(99)), -1) << "larger than the budget";
}

TEST(LoadPredictor, NeedsAtLeastTheMinimumScore) {
  ModelSlots slots = unloaded_slots(2);
  LoadPredictor p(true, 256, 20ms, Clock::now());
  p.record(0);
  // Model 0's one request ages until its weight falls below kMinScore.
  const int age = static_cast<int>(
      std::ceil(std::log(LoadPredictor::kMinScore) / std::log(LoadPredictor::kDecay)));
  for (int i = 0; i < age - 1; ++i) p.record(1);
  p.score(slots);
  ASSERT_GE(slots[0]->score, LoadPredictor::kMinScore);
  slots[1]->state = ModelState::ready;
  const MemoryBudget unlimited(0);
  EXPECT_EQ(p.choose(slots, unlimited), 0);
  p.record(1);
  p.score(slots);
  ASSERT_LT(slots[0]->score, LoadPredictor::kMinScore);
  EXPECT_EQ(p.choose(slots, unlimited), -1);
}

}  // namespace
}  // namespace servelab::models
