// LoadScheduler with a fake manager (Host): queue order, room, deadlines and
// predictor ticks, on the scheduler's own threads. Every wait is on a
// condition with a deadline.

#include "models/load_scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "support/wait_until.h"

namespace servelab::models {
namespace {

using servelab::testing::wait_until;
using ::testing::ElementsAre;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The manager's side, recording what the scheduler asks of it. Every field is
// guarded by `mu` (the host methods are called with it held, but run_load).
class FakeHost final : public LoadScheduler::Host {
 public:
  FakeHost(std::mutex& mu, ModelSlots& slots) : mu_(mu), slots_(slots) {}

  LoadScheduler* scheduler = nullptr;
  std::vector<bool> room;  // per model: reserve() succeeds
  bool hold = false;       // run_load() blocks until false (or a load deadline passed)
  LoadScheduler::TimePoint next = LoadScheduler::kNever;
  std::vector<int> started;  // begin_load() order
  std::vector<int> finished;
  std::vector<int> dropped;  // no_room_for_preload()
  std::vector<int> load_deadlines;
  std::vector<uint64_t> wait_deadlines;
  int ticks = 0;
  std::condition_variable cv;

  bool stopping() const override { return false; }
  bool reserve(int index, JobClass, Deferred&) override { return room[static_cast<size_t>(index)]; }
  void no_room_for_preload(int index, Deferred&) override {
    dropped.push_back(index);
    scheduler->remove(index);
  }
  void begin_load(int index) override {
    started.push_back(index);
    slots_[static_cast<size_t>(index)]->load_started = Clock::now();
  }
  LoadOutcome run_load(int index) override {
    std::unique_lock lk(mu_);
    cv.wait_for(lk, 10s, [&] { return !hold || !load_deadlines.empty(); });
    (void)index;
    return {};
  }
  void finish_load(int index, LoadOutcome, Deferred&) override {
    finished.push_back(index);
    scheduler->cancel_load_deadline(index);
  }
  void load_deadline_passed(int index, Deferred&) override {
    load_deadlines.push_back(index);
    cv.notify_all();
  }
  void wait_deadline_passed(uint64_t waiter, Deferred&) override {
    wait_deadlines.push_back(waiter);
  }
  LoadScheduler::TimePoint next_tick() const override { return next; }
  void tick(LoadScheduler::TimePoint now, Deferred&) override {
    if (now < next) return;
    ++ticks;
    next = now + 1ms;
  }

 private:
  std::mutex& mu_;
  ModelSlots& slots_;
};

class LoadSchedulerTest : public ::testing::Test {
 protected:
  static ModelSlots six_models() {
    ModelSlots slots;
    for (int i = 0; i < 6; ++i) {
      slots.push_back(std::make_unique<ModelSlot>());
      slots.back()->config.load_timeout = 1h;
    }
    return slots;
  }

  void SetUp() override {
    host_.room.assign(slots_.size(), true);
    host_.scheduler = &scheduler_;
  }
  void TearDown() override {
    {
      std::lock_guard lk(mu_);
      host_.hold = false;
      host_.cv.notify_all();
      scheduler_.stop();
    }
    scheduler_.join();
  }

  // Queues model `index` as the manager does: class, arrival order, priority.
  void enqueue(int index, JobClass job, int priority = 0) {
    ModelSlot& s = *slots_[static_cast<size_t>(index)];
    s.job = job;
    s.seq = next_seq_++;
    s.config.priority = priority;
    scheduler_.enqueue(index);
  }

  template <class Pred>
  bool locked_wait(Pred pred) {
    return wait_until([&] {
      std::lock_guard lk(mu_);
      return pred();
    });
  }

  std::mutex mu_;
  ModelSlots slots_ = six_models();  // complete before the scheduler is made
  FakeHost host_{mu_, slots_};
  LoadScheduler scheduler_{mu_, host_, slots_};
  uint64_t next_seq_ = 0;
};

TEST_F(LoadSchedulerTest, ServesRequestsBeforePreloadsThenPriorityThenArrival) {
  scheduler_.start(1);
  {
    std::lock_guard lk(mu_);
    host_.hold = true;  // the one loader stays busy with model 0 while the rest queue up
    enqueue(0, JobClass::eager);
  }
  ASSERT_TRUE(locked_wait([&] { return host_.started.size() == 1; }));
  {
    std::lock_guard lk(mu_);
    enqueue(1, JobClass::predicted, 9);
    enqueue(2, JobClass::demand);
    enqueue(3, JobClass::eager, 1);
    enqueue(4, JobClass::demand, 5);
    enqueue(5, JobClass::demand);
    EXPECT_EQ(scheduler_.queued(), 5u);
    host_.hold = false;
    host_.cv.notify_all();
  }
  ASSERT_TRUE(locked_wait([&] { return host_.finished.size() == 6; }));
  std::lock_guard lk(mu_);
  EXPECT_THAT(host_.started, ElementsAre(0, 4, 2, 5, 3, 1));
  EXPECT_EQ(scheduler_.queued(), 0u);
  for (const auto& s : slots_) EXPECT_FALSE(s->queued);
}

TEST_F(LoadSchedulerTest, PreloadWithoutRoomIsDroppedAndARequestWaitsForRoom) {
  {
    std::lock_guard lk(mu_);
    host_.room[0] = false;
    host_.room[1] = false;
    enqueue(0, JobClass::demand);
    enqueue(1, JobClass::eager);
    enqueue(2, JobClass::demand);  // fits: runs past the waiting request
  }
  scheduler_.start(1);
  // The loader runs model 2, then finds no room for the others again.
  ASSERT_TRUE(locked_wait([&] { return host_.finished.size() == 1 && host_.dropped.size() == 1; }));
  {
    std::lock_guard lk(mu_);
    EXPECT_THAT(host_.started, ElementsAre(2));
    EXPECT_THAT(host_.dropped, ElementsAre(1));
    EXPECT_EQ(scheduler_.queued(), 1u);  // the request is still queued
    host_.room[0] = true;                // a lease dropped
    scheduler_.wake_loaders();
  }
  ASSERT_TRUE(locked_wait([&] { return host_.finished.size() == 2; }));
  std::lock_guard lk(mu_);
  EXPECT_THAT(host_.started, ElementsAre(2, 0));
}

TEST_F(LoadSchedulerTest, RemovedJobNeverRuns) {
  {
    std::lock_guard lk(mu_);
    enqueue(0, JobClass::demand);
    enqueue(1, JobClass::demand);
    scheduler_.remove(0);
    scheduler_.remove(0);  // no-op once off the queue
    EXPECT_FALSE(slots_[0]->queued);
  }
  scheduler_.start(2);
  ASSERT_TRUE(locked_wait([&] { return host_.finished.size() == 1; }));
  std::lock_guard lk(mu_);
  EXPECT_THAT(host_.started, ElementsAre(1));
}

TEST_F(LoadSchedulerTest, FiresWaiterDeadlinesInTimeOrderAndNotCancelledOnes) {
  scheduler_.start(1);
  {
    std::lock_guard lk(mu_);
    const auto now = Clock::now();
    scheduler_.add_deadline(now + 30ms, {LoadScheduler::Deadline::waiter, 1});
    const auto cancelled =
        scheduler_.add_deadline(now + 20ms, {LoadScheduler::Deadline::waiter, 2});
    scheduler_.add_deadline(now + 10ms, {LoadScheduler::Deadline::waiter, 3});
    scheduler_.cancel_deadline(cancelled);
  }
  ASSERT_TRUE(locked_wait([&] { return host_.wait_deadlines.size() == 2; }));
  std::lock_guard lk(mu_);
  EXPECT_THAT(host_.wait_deadlines, ElementsAre(3, 1));
}

TEST_F(LoadSchedulerTest, LoadDeadlineFiresWhileTheLoadRuns) {
  {
    std::lock_guard lk(mu_);
    slots_[0]->config.load_timeout = 20ms;
    host_.hold = true;  // only the deadline ends this load
    enqueue(0, JobClass::demand);
  }
  scheduler_.start(1);
  ASSERT_TRUE(locked_wait([&] { return host_.finished.size() == 1; }));
  std::lock_guard lk(mu_);
  EXPECT_THAT(host_.load_deadlines, ElementsAre(0));
}

TEST_F(LoadSchedulerTest, FinishedLoadsDeadlineNeverFires) {
  {
    std::lock_guard lk(mu_);
    slots_[0]->config.load_timeout = 20ms;
    enqueue(0, JobClass::demand);
    host_.next = Clock::now();  // the predictor ticks every 1 ms: the timer thread keeps turning
  }
  scheduler_.start(1);
  ASSERT_TRUE(locked_wait([&] { return host_.finished.size() == 1; }));
  const auto past_deadline = Clock::now() + 40ms;
  ASSERT_TRUE(locked_wait([&] { return host_.next > past_deadline; }));
  std::lock_guard lk(mu_);
  EXPECT_TRUE(host_.load_deadlines.empty());
  EXPECT_GT(host_.ticks, 1);
}

TEST_F(LoadSchedulerTest, TicksThePredictorWhenItIsDue) {
  {
    std::lock_guard lk(mu_);
    host_.next = Clock::now() + 10ms;
  }
  scheduler_.start(1);
  ASSERT_TRUE(locked_wait([&] { return host_.ticks >= 3; }));
}

}  // namespace
}  // namespace servelab::models
