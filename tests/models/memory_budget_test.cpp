// MemoryBudget: bytes against the budget and the LRU choice of victims,
// over hand-built slots (no files, no threads).

#include "models/memory_budget.h"

#include <gtest/gtest.h>

#include <vector>

namespace servelab::models {
namespace {

class MemoryBudgetTest : public ::testing::Test {
 protected:
  // A model in memory (ready, `bytes` counted) last used at `tick`.
  int add_ready(MemoryBudget& budget, uint64_t bytes, uint64_t tick) {
    ModelSlot& s = add();
    s.state = ModelState::ready;
    s.estimate = bytes;
    s.last_used = tick;
    budget.account(s, bytes);
    return static_cast<int>(slots_.size()) - 1;
  }
  // A model to load, needing `bytes`.
  ModelSlot& add_candidate(uint64_t bytes) {
    ModelSlot& s = add();
    s.estimate = bytes;
    s.estimate_total = bytes;
    return s;
  }
  ModelSlot& at(int i) { return *slots_[static_cast<size_t>(i)]; }

  // reserve(), evicting like the manager does; returns the victims in order.
  std::vector<int> reserve(MemoryBudget& budget, ModelSlot& candidate, JobClass policy, bool& ok) {
    std::vector<int> victims;
    ok = budget.reserve(slots_, candidate, policy, [&](int v) {
      victims.push_back(v);
      budget.account(at(v), 0);
      at(v).state = ModelState::unloaded;
    });
    return victims;
  }

  ModelSlots slots_;

 private:
  ModelSlot& add() {
    slots_.push_back(std::make_unique<ModelSlot>());
    return *slots_.back();
  }
};

TEST_F(MemoryBudgetTest, UnlimitedBudgetNeverEvicts) {
  MemoryBudget budget(0);
  add_ready(budget, 1'000, 1);
  ModelSlot& c = add_candidate(1'000'000);
  EXPECT_TRUE(budget.could_fit(UINT64_MAX));
  EXPECT_TRUE(budget.can_reserve(slots_, c, JobClass::demand));
  bool ok = false;
  EXPECT_TRUE(reserve(budget, c, JobClass::demand, ok).empty());
  EXPECT_TRUE(ok);
  EXPECT_EQ(budget.used(), 1'001'000u);
  EXPECT_EQ(c.memory, 1'000'000u);
}

TEST_F(MemoryBudgetTest, CouldFitComparesWithTheWholeBudget) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.could_fit(100));
  EXPECT_FALSE(budget.could_fit(101));
  add_ready(budget, 100, 1);
  EXPECT_TRUE(budget.could_fit(100)) << "what is in memory now does not matter";
}

TEST_F(MemoryBudgetTest, EvictsLeastRecentlyUsedFirstUntilTheLoadFits) {
  MemoryBudget budget(300);
  const int newest = add_ready(budget, 100, 3);
  const int oldest = add_ready(budget, 100, 1);
  const int middle = add_ready(budget, 100, 2);
  ModelSlot& c = add_candidate(200);
  bool ok = false;
  EXPECT_EQ(reserve(budget, c, JobClass::demand, ok), (std::vector<int>{oldest, middle}));
  EXPECT_TRUE(ok);
  EXPECT_EQ(at(newest).state, ModelState::ready);
  EXPECT_EQ(budget.used(), 300u);
  EXPECT_EQ(c.memory, 200u);
}

TEST_F(MemoryBudgetTest, NeverEvictsAModelInUseOrPinned) {
  MemoryBudget budget(200);
  const int leased = add_ready(budget, 100, 1);
  at(leased).leases = 1;
  const int pinned = add_ready(budget, 100, 2);
  at(pinned).pins = 1;
  ModelSlot& c = add_candidate(100);
  EXPECT_EQ(budget.lru_victim(slots_, c, JobClass::demand), -1);
  EXPECT_FALSE(budget.can_reserve(slots_, c, JobClass::demand));
  bool ok = true;
  EXPECT_TRUE(reserve(budget, c, JobClass::demand, ok).empty());
  EXPECT_FALSE(ok);
  EXPECT_EQ(budget.used(), 200u) << "a failed reservation counts nothing";
  EXPECT_EQ(c.memory, 0u);

  at(leased).leases = 0;  // the lease dropped
  EXPECT_EQ(reserve(budget, c, JobClass::demand, ok), std::vector<int>{leased});
  EXPECT_TRUE(ok);
}

TEST_F(MemoryBudgetTest, OnlyReadyModelsAreVictims) {
  MemoryBudget budget(100);
  const int loading = add_ready(budget, 100, 1);
  at(loading).state = ModelState::loading;  // a running load's reservation
  ModelSlot& c = add_candidate(100);
  EXPECT_EQ(budget.lru_victim(slots_, c, JobClass::demand), -1);
  at(loading).state = ModelState::unloading;  // leaves with its last lease
  EXPECT_EQ(budget.lru_victim(slots_, c, JobClass::demand), -1);
}

TEST_F(MemoryBudgetTest, EagerPreloadNeverEvicts) {
  MemoryBudget budget(100);
  add_ready(budget, 100, 1);
  ModelSlot& c = add_candidate(100);
  EXPECT_FALSE(budget.can_reserve(slots_, c, JobClass::eager));
  bool ok = true;
  EXPECT_TRUE(reserve(budget, c, JobClass::eager, ok).empty());
  EXPECT_FALSE(ok);
  EXPECT_TRUE(budget.can_reserve(slots_, c, JobClass::demand));
}

TEST_F(MemoryBudgetTest, PredictedPreloadEvictsOnlyModelsWithLessThanHalfItsScore) {
  MemoryBudget budget(100);
  const int warm = add_ready(budget, 100, 1);
  at(warm).score = 5.0;
  ModelSlot& c = add_candidate(100);
  c.score = 10.0;  // exactly twice: not enough
  EXPECT_EQ(budget.lru_victim(slots_, c, JobClass::predicted), -1);
  EXPECT_FALSE(budget.can_reserve(slots_, c, JobClass::predicted));
  at(warm).score = 4.9;
  EXPECT_EQ(budget.lru_victim(slots_, c, JobClass::predicted), warm);
  EXPECT_TRUE(budget.can_reserve(slots_, c, JobClass::predicted));
}

TEST_F(MemoryBudgetTest, CanReserveCountsTheDependenciesToo) {
  MemoryBudget budget(300);
  add_ready(budget, 100, 1);
  ModelSlot& c = add_candidate(100);
  c.estimate_total = 300;  // with a dependency of 200 not in memory yet
  EXPECT_TRUE(budget.can_reserve(slots_, c, JobClass::demand));  // by evicting the 100
  c.estimate_total = 301;
  EXPECT_FALSE(budget.can_reserve(slots_, c, JobClass::demand));
}

TEST_F(MemoryBudgetTest, PeakKeepsTheHighestUse) {
  MemoryBudget budget(0);
  const int a = add_ready(budget, 300, 1);
  const int b = add_ready(budget, 200, 2);
  EXPECT_EQ(budget.used(), 500u);
  budget.account(at(a), 0);
  budget.account(at(b), 50);  // a reservation replaced by the real size
  EXPECT_EQ(budget.used(), 50u);
  EXPECT_EQ(at(b).memory, 50u);
  EXPECT_EQ(budget.peak(), 500u);
}

}  // namespace
}  // namespace servelab::models
