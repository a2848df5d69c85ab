#pragma once
// The model manager's load scheduler (async mode): the load queue, the
// loader threads that take jobs from it, and the timer thread that fires
// deadlines (a waiting request's, a running load's load_timeout) and runs
// the predictor. What a load does and what its end means is the manager's:
// the scheduler calls it back through Host. Internal to lib/models.
//
// Thread-safety: the scheduler shares the manager's mutex (given at
// construction) and its queue, deadlines and flags are guarded by it.
// REQUIRES for every member but start() and join(): that mutex is held.
// The scheduler's threads hold it except around Host::run_load() and
// Deferred::run(), so no I/O, load or callback ever runs under it.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/result.h"
#include "models/deferred.h"
#include "models/model.h"
#include "models/model_slot.h"

namespace servelab::models {

// What a load produced, as seen by the thread that ran it.
struct LoadOutcome {
  Result<std::shared_ptr<const Model>> result = make_error("not run");
  bool timed_out = false;  // the load stopped itself at its load_timeout
};

class LoadScheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using TimePoint = Clock::time_point;
  static constexpr TimePoint kNever = TimePoint::max();

  struct Deadline {
    enum Kind : uint8_t { waiter, load_timeout } kind;
    uint64_t id;  // the manager's waiter id, or a model index for load_timeout
  };
  using Deadlines = std::multimap<TimePoint, Deadline>;
  using DeadlineId = Deadlines::iterator;

  // The manager's side. Called by the scheduler's threads with the lock held,
  // except run_load(). Work that must run without the lock goes into the
  // Deferred, which the scheduler runs after unlocking.
  class Host {
   public:
    virtual bool stopping() const = 0;  // shutdown began: start no more loads
    // Counts the model's estimate against the budget, evicting as `policy`
    // allows; false: no room now.
    virtual bool reserve(int index, JobClass policy, Deferred& d) = 0;
    // A queued preload found no room: it is dropped (never waits).
    virtual void no_room_for_preload(int index, Deferred& d) = 0;
    virtual void begin_load(int index) = 0;       // taken off the queue, about to run
    virtual LoadOutcome run_load(int index) = 0;  // without the lock
    virtual void finish_load(int index, LoadOutcome outcome, Deferred& d) = 0;
    virtual void load_deadline_passed(int index, Deferred& d) = 0;
    virtual void wait_deadline_passed(uint64_t waiter, Deferred& d) = 0;
    // The predictor: when it wants to run next (kNever: never), and a timer
    // thread turn at `now` (it runs if due).
    virtual TimePoint next_tick() const = 0;
    virtual void tick(TimePoint now, Deferred& d) = 0;

   protected:
    ~Host() = default;
  };

  // `slots` and `host` outlive the scheduler; `mu` is the manager's mutex.
  // REQUIRES: `slots` holds every model already (its size never changes).
  LoadScheduler(std::mutex& mu, Host& host, ModelSlots& slots);
  LoadScheduler(const LoadScheduler&) = delete;
  LoadScheduler& operator=(const LoadScheduler&) = delete;

  // Starts `loaders` loader threads and the timer thread. REQUIRES: the lock
  // is not held; called once.
  void start(int loaders);
  // Tells the threads to exit. REQUIRES: no load is running.
  void stop();
  // Waits for the threads to exit. REQUIRES: stop() was called; the lock is
  // not held.
  void join();

  // ---- the queue: served requests first, then by priority, then by arrival
  void enqueue(int index);
  void remove(int index);  // no-op when not queued
  size_t queued() const { return queue_.size(); }
  // Memory may have been freed or a job queued: loaders look at the queue again.
  void wake_loaders() { loader_cv_.notify_all(); }

  // ---- deadlines
  DeadlineId add_deadline(TimePoint when, Deadline what);
  void cancel_deadline(DeadlineId id) { deadlines_.erase(id); }
  // The load of `index` ended: its load_timeout deadline no longer applies.
  void cancel_load_deadline(int index);

 private:
  void loader_loop();
  void timer_loop();
  // Takes the best queued job whose memory can be reserved now, or -1.
  int pick(Deferred& d);

  std::mutex& mu_;
  Host& host_;
  ModelSlots& slots_;
  std::condition_variable loader_cv_;  // a job was queued, memory may have been freed, stop
  std::condition_variable timer_cv_;   // an earlier deadline, stop
  std::vector<int> queue_;             // model indices, unordered (pick() sorts)
  Deadlines deadlines_;
  std::vector<std::optional<DeadlineId>> load_deadlines_;  // per model, while its load runs
  bool stop_ = false;
  std::vector<std::thread> loaders_;
  std::thread timer_;
};

}  // namespace servelab::models
