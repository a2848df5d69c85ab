// The model manager: see model_manager.h for the contract, docs/MODELS.md for
// the design. One mutex guards all bookkeeping; it is never held across I/O,
// a load, a model's destruction or a caller's callback (those are collected
// in a Deferred and run after the unlock), so a request for a ready model
// waits at most for a few bookkeeping steps, never for someone's load.

#include "models/model_manager.h"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "models/model_repository.h"

namespace servelab::models {

std::string_view to_string(ModelState s) {
  switch (s) {
    case ModelState::unloaded: return "unloaded";
    case ModelState::loading: return "loading";
    case ModelState::ready: return "ready";
    case ModelState::failed: return "failed";
    case ModelState::unloading: return "unloading";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
constexpr TimePoint kNever = TimePoint::max();

// Who asked for a load: a request (may evict), eager preload at start (never
// evicts), prediction (evicts only models scored well below it).
enum class JobClass : uint8_t { demand = 0, eager = 1, predicted = 2 };
// Why a running load is being abandoned.
enum class Abandon : uint8_t { none, timeout, cancelled };

struct TimerEvent {
  enum Kind : uint8_t { waiter, load_timeout } kind;
  uint64_t id;  // waiter id, or model index for load_timeout
};
using Timers = std::multimap<TimePoint, TimerEvent>;

// Predictor: each request in the history weighs kDecay^age (age 0 = newest),
// so a model's score mixes how often and how recently it was asked for.
constexpr double kDecay = 0.98;
// Least score worth a preload (about one request in the last ~35).
constexpr double kMinPredictScore = 0.5;
// A predicted preload may evict a model only if it scores this many times
// higher (hysteresis: two models of similar heat do not evict each other).
constexpr double kPredictEvictRatio = 2.0;

struct Entry {
  ModelConfig config;        // immutable after open()
  std::string config_error;  // bad model.toml: failed for good
  uint64_t estimate = 0;        // bytes: weights file size, counted while loading
  uint64_t estimate_total = 0;  // with every (transitive) dependency
  std::vector<int> deps;
  std::vector<int> dependents;

  ModelState state = ModelState::unloaded;
  AcquireError fail_kind = AcquireError::none;
  std::string reason;
  std::shared_ptr<const Model> model;
  uint64_t memory = 0;       // bytes counted against the budget now
  uint32_t leases = 0;
  uint32_t pins = 0;         // dependents loading or in memory
  bool holds_pins = false;   // this model holds one pin on each dependency
  uint64_t last_used = 0;    // LRU tick
  double score = 0;          // predictor

  bool queued = false;
  bool running = false;
  int deps_pending = 0;      // loading, waiting for this many dependencies
  JobClass job = JobClass::demand;
  uint64_t seq = 0;          // FIFO among equals in the load queue
  std::vector<uint64_t> waiters;
  std::atomic<bool> abandon{false};  // read by the loading thread's checks
  Abandon abandon_why = Abandon::none;
  std::optional<Timers::iterator> load_timer;
  TimePoint load_started;

  bool preloaded = false;      // loaded by a preload, not yet requested
  bool eager_settled = false;  // eager model: first attempt over
  bool user_unloaded = false;  // unloaded through the API: never predicted
};

struct Waiter {
  int idx = -1;
  ModelManager::Done done;
  std::optional<Timers::iterator> timer;
};

// Work that must run without the lock: callbacks and model destruction.
struct Deferred {
  std::vector<std::pair<ModelManager::Done, Acquired>> callbacks;
  std::vector<std::shared_ptr<const Model>> dead;
  void run() {
    auto cbs = std::move(callbacks);
    callbacks.clear();
    for (auto& [done, a] : cbs) done(std::move(a));
    dead.clear();
  }
  bool empty() const { return callbacks.empty() && dead.empty(); }
};

struct LoadOutcome {
  Result<std::shared_ptr<const Model>> result = make_error("not run");
  bool timed_out = false;
};

}  // namespace

struct ModelManager::Impl : std::enable_shared_from_this<ModelManager::Impl> {
  ManagerOptions opt;
  std::vector<ModelConfig> configs;
  std::vector<std::unique_ptr<Entry>> entries;

  mutable std::mutex mu;
  std::condition_variable loader_cv;  // a job is queued, memory may have freed, stop
  std::condition_variable timer_cv;   // an earlier deadline, stop
  std::condition_variable state_cv;   // a load finished, a lease dropped (sync mode, shutdown)
  std::vector<std::thread> loaders;
  std::thread timer_thread;

  bool started = false;
  bool stopping = false;
  bool stopped = false;
  bool stop_threads = false;
  std::vector<int> queue;  // models waiting for a loader, unordered (picked by key)
  uint64_t next_seq = 0;
  uint64_t next_waiter = 0;
  uint64_t tick = 0;
  std::unordered_map<uint64_t, Waiter> waiters;
  Timers timers;
  std::vector<int> history;  // ring of the last opt.history requested models
  size_t history_next = 0;
  size_t history_size = 0;
  TimePoint next_predict;
  uint64_t used = 0;      // bytes: ready/unloading models + reservations of running loads
  uint32_t running = 0;   // loads in progress (loader threads and sync callers)
  ManagerStats st;

  Entry& at(int idx) { return *entries[static_cast<size_t>(idx)]; }
  const Entry& at(int idx) const { return *entries[static_cast<size_t>(idx)]; }

  int find(std::string_view name) const {
    const auto it = std::lower_bound(configs.begin(), configs.end(), name,
                                     [](const ModelConfig& c, std::string_view n) { return c.name < n; });
    return it != configs.end() && it->name == name ? static_cast<int>(it - configs.begin()) : -1;
  }

  bool async() const { return opt.async; }
  bool predicting() const { return opt.async && opt.prediction; }

  // ---- leases ------------------------------------------------------------

  ModelLease make_lease(int idx) {
    Entry& e = at(idx);
    ++e.leases;
    std::weak_ptr<Impl> self = weak_from_this();
    std::shared_ptr<void> pin(static_cast<void*>(&e), [self, idx](void*) {
      if (auto s = self.lock()) s->release_lease(idx);
    });
    return ModelLease(e.model, std::move(pin));
  }

  void release_lease(int idx) {
    Deferred d;
    {
      std::lock_guard lk(mu);
      Entry& e = at(idx);
      --e.leases;
      if (e.leases == 0) {
        if (e.state == ModelState::unloading && e.pins == 0) finish_unload(idx, d);
        // The model may now be evicted to make room for a waiting load.
        if (!queue.empty()) loader_cv.notify_all();
        state_cv.notify_all();
      }
    }
    d.run();
  }

  // ---- memory ------------------------------------------------------------

  void account(int idx, uint64_t bytes) {
    Entry& e = at(idx);
    used = used - e.memory + bytes;
    e.memory = bytes;
    st.memory_peak = std::max(st.memory_peak, used);
  }

  bool evictable(const Entry& v) const {
    return v.state == ModelState::ready && v.leases == 0 && v.pins == 0;
  }
  bool may_evict(const Entry& candidate, const Entry& v, JobClass policy) const {
    if (!evictable(v)) return false;
    if (policy == JobClass::eager) return false;
    if (policy == JobClass::predicted) return v.score * kPredictEvictRatio < candidate.score;
    return true;
  }

  // Whether reserve() would succeed (dependency pins not followed: an
  // estimate for the predictor, which must not start doomed preloads).
  bool can_reserve(int idx, JobClass policy) const {
    const Entry& e = at(idx);
    if (opt.memory_budget == 0) return true;
    uint64_t room = opt.memory_budget > used ? opt.memory_budget - used : 0;
    for (const auto& v : entries)
      if (v.get() != &e && may_evict(e, *v, policy)) room += v->memory;
    return room >= e.estimate_total;
  }

  // Counts `idx`'s estimate against the budget, evicting least recently used
  // models with no lease and no dependent in memory as `policy` allows.
  bool reserve(int idx, JobClass policy, Deferred& d) {
    Entry& e = at(idx);
    const uint64_t need = e.estimate;
    if (opt.memory_budget != 0) {
      while (used + need > opt.memory_budget) {
        int victim = -1;
        for (size_t j = 0; j < entries.size(); ++j) {
          const Entry& v = *entries[j];
          if (&v == &e || !may_evict(e, v, policy)) continue;
          if (victim < 0 || v.last_used < at(victim).last_used) victim = static_cast<int>(j);
        }
        if (victim < 0) return false;
        evict(victim, d);
      }
    }
    account(idx, need);
    return true;
  }

  void evict(int idx, Deferred& d) {
    Entry& v = at(idx);
    d.dead.push_back(std::move(v.model));
    v.model.reset();
    account(idx, 0);
    v.state = ModelState::unloaded;
    v.preloaded = false;
    ++st.evictions;
    release_pins(idx, d);
  }

  void finish_unload(int idx, Deferred& d) {
    Entry& e = at(idx);
    d.dead.push_back(std::move(e.model));
    e.model.reset();
    account(idx, 0);
    e.state = ModelState::unloaded;
    release_pins(idx, d);
    state_cv.notify_all();
    loader_cv.notify_all();
  }

  void pin_deps(int idx) {
    Entry& e = at(idx);
    if (e.holds_pins) return;
    for (const int dep : e.deps) ++at(dep).pins;
    e.holds_pins = true;
  }

  void release_pins(int idx, Deferred& d) {
    Entry& e = at(idx);
    if (!e.holds_pins) return;
    e.holds_pins = false;
    for (const int dep : e.deps) {
      Entry& de = at(dep);
      --de.pins;
      if (de.pins == 0 && de.leases == 0 && de.state == ModelState::unloading) finish_unload(dep, d);
    }
  }

  // ---- waiters -----------------------------------------------------------

  void add_waiter(int idx, TimePoint deadline, Done done, Deferred& d) {
    Entry& e = at(idx);
    if (deadline <= Clock::now()) {
      ++st.wait_timeouts;
      d.callbacks.emplace_back(std::move(done), Acquired{{}, AcquireError::timeout, wait_timeout_message(e)});
      return;
    }
    const uint64_t id = next_waiter++;
    Waiter w{idx, std::move(done), std::nullopt};
    if (deadline != kNever) {
      const bool earliest = timers.empty() || deadline < timers.begin()->first;
      w.timer = timers.emplace(deadline, TimerEvent{TimerEvent::waiter, id});
      if (earliest) timer_cv.notify_one();
    }
    waiters.emplace(id, std::move(w));
    e.waiters.push_back(id);
  }

  static std::string wait_timeout_message(const Entry& e) {
    return fmt::format("model '{}' did not become ready before the request's deadline (state {})", e.config.name,
                       to_string(e.state));
  }

  Waiter take_waiter(uint64_t id) {
    auto node = waiters.extract(id);
    Waiter w = std::move(node.mapped());
    if (w.timer) timers.erase(*w.timer);
    return w;
  }

  void deliver_ready(int idx, Deferred& d) {
    Entry& e = at(idx);
    for (const uint64_t id : e.waiters) {
      Waiter w = take_waiter(id);
      d.callbacks.emplace_back(std::move(w.done), Acquired{make_lease(idx), AcquireError::none, {}});
    }
    e.waiters.clear();
  }

  void deliver_error(int idx, AcquireError kind, const std::string& message, Deferred& d) {
    Entry& e = at(idx);
    for (const uint64_t id : e.waiters) {
      Waiter w = take_waiter(id);
      d.callbacks.emplace_back(std::move(w.done), Acquired{{}, kind, message});
    }
    e.waiters.clear();
  }

  // ---- state transitions -------------------------------------------------

  void remove_from_queue(int idx) {
    Entry& e = at(idx);
    if (!e.queued) return;
    queue.erase(std::find(queue.begin(), queue.end(), idx));
    e.queued = false;
  }

  void enqueue(int idx) {
    Entry& e = at(idx);
    e.queued = true;
    queue.push_back(idx);
    loader_cv.notify_one();
  }

  // A model that was loading (or about to) failed for good.
  void fail(int idx, AcquireError kind, std::string reason, Deferred& d) {
    Entry& e = at(idx);
    remove_from_queue(idx);
    e.state = ModelState::failed;
    e.fail_kind = kind;
    e.reason = std::move(reason);
    e.deps_pending = 0;
    e.eager_settled = true;
    release_pins(idx, d);
    deliver_error(idx, kind, e.reason, d);
    dep_done(idx, d);
    state_cv.notify_all();
  }

  // A load that had not started yet is dropped: back to unloaded.
  void drop(int idx, AcquireError kind, const std::string& message, Deferred& d) {
    Entry& e = at(idx);
    remove_from_queue(idx);
    e.state = ModelState::unloaded;
    e.deps_pending = 0;
    e.eager_settled = true;
    release_pins(idx, d);
    deliver_error(idx, kind, message, d);
    dep_done(idx, d);
    state_cv.notify_all();
  }

  // Model `idx` left `loading`: move on the dependents that waited for it.
  void dep_done(int idx, Deferred& d) {
    const Entry& e = at(idx);
    for (const int x : e.dependents) {
      Entry& xe = at(x);
      if (xe.state != ModelState::loading || xe.queued || xe.running || xe.deps_pending == 0) continue;
      if (e.state == ModelState::ready) {
        if (--xe.deps_pending == 0) enqueue(x);
      } else if (e.state == ModelState::failed) {
        fail(x, AcquireError::failed, fmt::format("dependency '{}' failed: {}", e.config.name, e.reason), d);
      } else if (xe.job != JobClass::demand) {
        ++st.preload_skipped;
        drop(x, AcquireError::cancelled, "preload dropped", d);
      } else {
        ++st.load_cancelled;
        drop(x, stopping ? AcquireError::shutting_down : AcquireError::cancelled,
             fmt::format("load of '{}' cancelled: its dependency '{}' was cancelled", xe.config.name, e.config.name), d);
      }
    }
  }

  void upgrade_to_demand(int idx) {
    Entry& e = at(idx);
    if (e.state != ModelState::loading || e.job == JobClass::demand) return;
    e.job = JobClass::demand;
    for (const int dep : e.deps) upgrade_to_demand(dep);
  }

  std::string too_large_message(const Entry& e) const {
    return fmt::format("model '{}' needs {} bytes (weights{}), larger than the memory budget of {} bytes",
                       e.config.name, e.estimate_total, e.deps.empty() ? "" : " with its dependencies",
                       opt.memory_budget);
  }

  // Async mode: makes sure `idx` is ready or on its way (dependencies first).
  void ensure_loading(int idx, JobClass cls, Deferred& d) {
    Entry& e = at(idx);
    switch (e.state) {
      case ModelState::ready: return;
      case ModelState::unloading: e.state = ModelState::ready; return;  // revived: still in memory
      case ModelState::failed: return;
      case ModelState::loading:
        if (cls == JobClass::demand) upgrade_to_demand(idx);
        return;
      case ModelState::unloaded: break;
    }
    if (opt.memory_budget != 0 && e.estimate_total > opt.memory_budget) {
      fail(idx, AcquireError::too_large, too_large_message(e), d);
      return;
    }
    e.state = ModelState::loading;
    e.job = cls;
    e.seq = next_seq++;
    e.abandon.store(false);
    e.abandon_why = Abandon::none;
    e.reason.clear();
    e.fail_kind = AcquireError::none;
    e.deps_pending = 0;
    pin_deps(idx);
    for (const int dep : e.deps) {
      ensure_loading(dep, cls, d);
      const Entry& de = at(dep);
      if (de.state == ModelState::failed) {
        fail(idx, AcquireError::failed, fmt::format("dependency '{}' failed: {}", de.config.name, de.reason), d);
        return;
      }
      if (de.state != ModelState::ready) ++e.deps_pending;
    }
    if (e.deps_pending == 0) enqueue(idx);
  }

  // Cancels a load (unload() while loading, shutdown): a running one is
  // abandoned at its next check and finish_load() completes the transition.
  void cancel_load(int idx, AcquireError kind, const std::string& message, Deferred& d) {
    Entry& e = at(idx);
    ++st.load_cancelled;
    if (e.running) {
      e.abandon_why = Abandon::cancelled;
      e.abandon.store(true);
      deliver_error(idx, kind, message, d);
      return;
    }
    drop(idx, kind, message, d);
  }

  // ---- loading -----------------------------------------------------------

  // Takes the best queued job whose memory can be reserved now: requests
  // before preloads, then higher priority, then first come.
  int pick_job(Deferred& d) {
    if (stopping || queue.empty()) return -1;
    std::sort(queue.begin(), queue.end(), [&](int a, int b) {
      const Entry& ea = at(a);
      const Entry& eb = at(b);
      if (ea.job != eb.job) return ea.job < eb.job;
      if (ea.config.priority != eb.config.priority) return ea.config.priority > eb.config.priority;
      return ea.seq < eb.seq;
    });
    for (size_t i = 0; i < queue.size();) {
      const int idx = queue[i];
      Entry& e = at(idx);
      if (reserve(idx, e.job, d)) {
        queue.erase(queue.begin() + static_cast<std::ptrdiff_t>(i));
        e.queued = false;
        return idx;
      }
      if (e.job != JobClass::demand) {  // a preload never waits for room
        ++st.preload_skipped;
        drop(idx, AcquireError::cancelled, "preload dropped: no room in the memory budget", d);
        continue;  // drop() erased queue[i]
      }
      ++i;  // a request waits for room (leases drop, loads finish); try smaller ones
    }
    return -1;
  }

  void begin_load(int idx) {
    Entry& e = at(idx);
    e.running = true;
    ++running;
    e.load_started = Clock::now();
    if (e.job != JobClass::demand) ++st.preloads;
  }

  // Runs without the lock: the test hook, then the load with its checks.
  LoadOutcome run_load(int idx) {
    Entry& e = at(idx);  // config and load_started are not written while running
    if (opt.on_load_start) opt.on_load_start(e.config.name, e.abandon);
    LoadOutcome out;
    const TimePoint deadline = e.load_started + e.config.load_timeout;
    const LoadCheck check = [&]() -> std::optional<std::string> {
      if (e.abandon.load()) return std::string("load abandoned");
      if (Clock::now() > deadline) {
        out.timed_out = true;
        return std::string("load timed out");
      }
      return std::nullopt;
    };
    out.result = load_model(e.config, check);
    return out;
  }

  std::string timeout_message(const Entry& e) const {
    return fmt::format("model '{}': load timed out after {} ms (load_timeout in model.toml)", e.config.name,
                       e.config.load_timeout.count());
  }

  void finish_load(int idx, LoadOutcome out, Deferred& d) {
    Entry& e = at(idx);
    e.running = false;
    --running;
    if (e.load_timer) {
      timers.erase(*e.load_timer);
      e.load_timer.reset();
    }
    Abandon why = e.abandon_why;
    if (why == Abandon::none && out.timed_out) {
      why = Abandon::timeout;
      ++st.load_timeouts;
    }
    if (why == Abandon::none && !out.result.ok() && Clock::now() > e.load_started + e.config.load_timeout) {
      why = Abandon::timeout;  // the last step overran (no check after it)
      ++st.load_timeouts;
    }
    if (why != Abandon::none) {
      if (out.result.ok()) d.dead.push_back(std::move(*out.result));  // too late: discarded
      account(idx, 0);
      if (why == Abandon::timeout) {
        ++st.load_failures;
        fail(idx, AcquireError::timeout, timeout_message(e), d);
      } else {
        drop(idx, stopping ? AcquireError::shutting_down : AcquireError::cancelled,
             fmt::format("load of '{}' was cancelled", e.config.name), d);
      }
    } else if (out.result.ok()) {
      e.model = std::move(*out.result);
      account(idx, e.model->memory_bytes());
      e.state = ModelState::ready;
      e.last_used = ++tick;
      e.eager_settled = true;
      ++st.loads;
      st.load_time_us.record(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - e.load_started).count());
      e.preloaded = e.job != JobClass::demand && e.waiters.empty();
      deliver_ready(idx, d);
      dep_done(idx, d);
    } else {
      account(idx, 0);
      ++st.load_failures;
      fail(idx, AcquireError::failed, out.result.error().message, d);
    }
    state_cv.notify_all();
    loader_cv.notify_all();  // memory may have been released
  }

  void loader_loop() {
    std::unique_lock lk(mu);
    while (!stop_threads) {
      Deferred d;
      const int idx = pick_job(d);
      if (idx < 0) {
        if (!d.empty()) {
          lk.unlock();
          d.run();
          lk.lock();
          continue;
        }
        loader_cv.wait(lk);
        continue;
      }
      begin_load(idx);
      Entry& e = at(idx);
      const TimePoint deadline = e.load_started + e.config.load_timeout;
      const bool earliest = timers.empty() || deadline < timers.begin()->first;
      e.load_timer = timers.emplace(deadline, TimerEvent{TimerEvent::load_timeout, static_cast<uint64_t>(idx)});
      if (earliest) timer_cv.notify_one();
      lk.unlock();
      d.run();
      LoadOutcome out = run_load(idx);
      lk.lock();
      finish_load(idx, std::move(out), d);
      lk.unlock();
      d.run();
      lk.lock();
    }
  }

  // ---- timer and predictor ------------------------------------------------

  void on_load_timeout(int idx, Deferred& d) {
    Entry& e = at(idx);
    if (!e.running || e.abandon_why != Abandon::none) return;
    e.abandon_why = Abandon::timeout;
    e.abandon.store(true);
    ++st.load_timeouts;
    // Answer the waiters now; the state turns failed when the loader returns.
    deliver_error(idx, AcquireError::timeout, timeout_message(e), d);
  }

  void timer_loop() {
    std::unique_lock lk(mu);
    while (!stop_threads) {
      TimePoint next = timers.empty() ? kNever : timers.begin()->first;
      if (predicting()) next = std::min(next, next_predict);
      if (next == kNever)
        timer_cv.wait(lk);
      else
        timer_cv.wait_until(lk, next);
      if (stop_threads) break;
      Deferred d;
      const TimePoint now = Clock::now();
      while (!timers.empty() && timers.begin()->first <= now) {
        const TimerEvent ev = timers.begin()->second;
        timers.erase(timers.begin());
        if (ev.kind == TimerEvent::waiter) {
          auto it = waiters.find(ev.id);
          if (it == waiters.end()) continue;
          Waiter w = std::move(it->second);
          waiters.erase(it);
          Entry& e = at(w.idx);
          e.waiters.erase(std::find(e.waiters.begin(), e.waiters.end(), ev.id));
          ++st.wait_timeouts;
          d.callbacks.emplace_back(std::move(w.done), Acquired{{}, AcquireError::timeout, wait_timeout_message(e)});
        } else {
          const int idx = static_cast<int>(ev.id);
          at(idx).load_timer.reset();
          on_load_timeout(idx, d);
        }
      }
      if (predicting() && now >= next_predict) {
        predict(d);
        next_predict = now + opt.prediction_interval;
      }
      if (!d.empty()) {
        lk.unlock();
        d.run();
        lk.lock();
      }
    }
  }

  void record_request(int idx) {
    if (!predicting()) return;
    history[history_next] = idx;
    history_next = (history_next + 1) % history.size();
    history_size = std::min(history_size + 1, history.size());
  }

  // Scores every model from the history; when no request is waiting for a
  // loader, starts one preload of the best-scored model not in memory that
  // fits (evicting only much colder models).
  void predict(Deferred& d) {
    if (stopping || history_size == 0) return;
    for (auto& e : entries) e->score = 0;
    double w = 1;
    for (size_t k = 0; k < history_size; ++k) {
      const size_t pos = (history_next + history.size() - 1 - k) % history.size();
      at(history[pos]).score += w;
      w *= kDecay;
    }
    if (!queue.empty() || running >= static_cast<uint32_t>(opt.max_concurrent_loads)) return;
    int best = -1;
    for (size_t j = 0; j < entries.size(); ++j) {
      const Entry& e = *entries[j];
      if (e.state != ModelState::unloaded || !e.config_error.empty() || e.config.preload == Preload::none ||
          e.user_unloaded || e.score < kMinPredictScore)
        continue;
      if (opt.memory_budget != 0 && e.estimate_total > opt.memory_budget) continue;
      if (best >= 0 && e.score <= at(best).score) continue;
      if (!can_reserve(static_cast<int>(j), JobClass::predicted)) continue;
      best = static_cast<int>(j);
    }
    if (best >= 0) ensure_loading(best, JobClass::predicted, d);
  }

  // ---- sync mode ------------------------------------------------------------

  struct Outcome {
    AcquireError error = AcquireError::none;
    std::string message;
  };

  Outcome unavailable(const Entry& e) const {
    if (stopping) return {AcquireError::shutting_down, "server is shutting down"};
    return {e.fail_kind, e.reason};
  }

  // Makes `idx` ready on the calling thread (dependencies first), or says why
  // not. Others asking for the same model meanwhile wait on state_cv.
  Outcome sync_ready(int idx, TimePoint deadline, std::unique_lock<std::mutex>& lk, Deferred& d) {
    while (true) {
      Entry& e = at(idx);
      if (stopping) return {AcquireError::shutting_down, "server is shutting down"};
      switch (e.state) {
        case ModelState::ready: return {};
        case ModelState::unloading: e.state = ModelState::ready; return {};
        case ModelState::failed: return unavailable(e);
        case ModelState::loading:
          if (e.abandon_why != Abandon::none) return {AcquireError::cancelled, "load cancelled"};
          if (deadline == kNever)
            state_cv.wait(lk);
          else if (state_cv.wait_until(lk, deadline) == std::cv_status::timeout && e.state == ModelState::loading) {
            ++st.wait_timeouts;
            return {AcquireError::timeout, wait_timeout_message(e)};
          }
          continue;
        case ModelState::unloaded: break;
      }
      if (opt.memory_budget != 0 && e.estimate_total > opt.memory_budget) {
        fail(idx, AcquireError::too_large, too_large_message(e), d);
        return unavailable(e);
      }
      e.state = ModelState::loading;
      e.job = JobClass::demand;
      e.abandon.store(false);
      e.abandon_why = Abandon::none;
      e.reason.clear();
      e.fail_kind = AcquireError::none;
      pin_deps(idx);
      for (const int dep : e.deps) {
        Outcome r = sync_ready(dep, deadline, lk, d);
        if (r.error == AcquireError::none) continue;
        const Entry& de = at(dep);
        if (de.state == ModelState::failed) {
          fail(idx, AcquireError::failed, fmt::format("dependency '{}' failed: {}", de.config.name, de.reason), d);
          return unavailable(e);
        }
        drop(idx, r.error, r.message, d);  // timeout or shutdown: not this model's fault
        return r;
      }
      while (!reserve(idx, JobClass::demand, d)) {
        if (stopping) {
          drop(idx, AcquireError::shutting_down, "server is shutting down", d);
          return {AcquireError::shutting_down, "server is shutting down"};
        }
        if (deadline == kNever) {
          state_cv.wait(lk);
        } else if (state_cv.wait_until(lk, deadline) == std::cv_status::timeout) {
          ++st.wait_timeouts;
          const std::string why = fmt::format(
              "model '{}': no room in the memory budget before the request's deadline (models in use)", e.config.name);
          drop(idx, AcquireError::timeout, why, d);
          return {AcquireError::timeout, why};
        }
      }
      begin_load(idx);
      lk.unlock();
      d.run();
      LoadOutcome out = run_load(idx);
      lk.lock();
      finish_load(idx, std::move(out), d);
      if (e.state == ModelState::unloaded)
        return {stopping ? AcquireError::shutting_down : AcquireError::cancelled,
                fmt::format("load of '{}' was cancelled", e.config.name)};
    }
  }

  // ---- unload ------------------------------------------------------------

  Status unload_locked(int idx, bool unload_dependents, Deferred& d) {
    Entry& e = at(idx);
    std::vector<int> needed_by;
    for (const int x : e.dependents)
      if (at(x).holds_pins) needed_by.push_back(x);
    if (!needed_by.empty()) {
      if (!unload_dependents) {
        std::vector<std::string> names;
        for (const int x : needed_by) names.push_back(at(x).config.name);
        return make_error(fmt::format("model '{}' is needed by {} (loaded); unload them first or set unload_dependents",
                                      e.config.name, fmt::join(names, ", ")));
      }
      for (const int x : needed_by)
        if (auto s = unload_locked(x, true, d); !s) return s;
    }
    e.user_unloaded = true;
    e.preloaded = false;
    switch (e.state) {
      case ModelState::ready:
        ++st.unloads;
        if (e.leases == 0 && e.pins == 0)
          finish_unload(idx, d);
        else
          e.state = ModelState::unloading;  // leaves memory with its last lease
        break;
      case ModelState::loading:
        cancel_load(idx, AcquireError::cancelled, fmt::format("model '{}' was unloaded while loading", e.config.name), d);
        break;
      case ModelState::failed:
        if (e.config_error.empty()) {
          e.state = ModelState::unloaded;
          e.reason.clear();
          e.fail_kind = AcquireError::none;
        }
        break;
      case ModelState::unloading:
      case ModelState::unloaded: break;
    }
    state_cv.notify_all();
    loader_cv.notify_all();
    return Ok{};
  }
};

// ---- public API -------------------------------------------------------------

ModelManager::ModelManager(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ModelManager::~ModelManager() { shutdown(); }

Result<std::unique_ptr<ModelManager>> ModelManager::open(const std::string& dir, ManagerOptions options) {
  auto scanned = scan_repository(dir);
  if (!scanned) return std::move(scanned).error();
  auto impl = std::make_shared<Impl>();
  options.max_concurrent_loads = std::max(1, options.max_concurrent_loads);
  options.history = std::max<size_t>(1, options.history);
  if (options.prediction_interval.count() <= 0) options.prediction_interval = std::chrono::milliseconds(20);
  impl->opt = std::move(options);
  impl->st.memory_budget = impl->opt.memory_budget;

  for (ModelEntry& me : *scanned) {
    auto e = std::make_unique<Entry>();
    e->config = me.config;
    e->config_error = me.error;
    if (!e->config_error.empty()) {
      e->state = ModelState::failed;
      e->fail_kind = AcquireError::failed;
      e->reason = e->config_error;
      e->eager_settled = true;
    } else if (auto size = weights_file_size(e->config); size) {
      e->estimate = *size;
    } else {  // no weights file: fails like a load would, retried by load()
      e->state = ModelState::failed;
      e->fail_kind = AcquireError::failed;
      e->reason = size.error().message;
      e->eager_settled = true;
    }
    impl->configs.push_back(me.config);
    impl->entries.push_back(std::move(e));
  }
  // Dependency indices (names checked by scan_repository).
  for (size_t i = 0; i < impl->entries.size(); ++i) {
    Entry& e = *impl->entries[i];
    for (const std::string& dep : e.config.depends_on) {
      const int d = impl->find(dep);
      e.deps.push_back(d);
      impl->at(d).dependents.push_back(static_cast<int>(i));
    }
  }
  // Memory a model needs with all it depends on (each dependency once).
  for (size_t i = 0; i < impl->entries.size(); ++i) {
    std::vector<bool> seen(impl->entries.size(), false);
    std::vector<int> stack{static_cast<int>(i)};
    uint64_t total = 0;
    while (!stack.empty()) {
      const int k = stack.back();
      stack.pop_back();
      if (seen[static_cast<size_t>(k)]) continue;
      seen[static_cast<size_t>(k)] = true;
      total += impl->at(k).estimate;
      for (const int dep : impl->at(k).deps) stack.push_back(dep);
    }
    impl->entries[i]->estimate_total = total;
  }

  if (impl->opt.async) {
    impl->history.assign(impl->opt.history, -1);
    impl->next_predict = Clock::now() + impl->opt.prediction_interval;
    Impl* raw = impl.get();
    for (int i = 0; i < impl->opt.max_concurrent_loads; ++i) impl->loaders.emplace_back([raw] { raw->loader_loop(); });
    impl->timer_thread = std::thread([raw] { raw->timer_loop(); });
  }
  return std::unique_ptr<ModelManager>(new ModelManager(std::move(impl)));
}

void ModelManager::start() {
  Impl& m = *impl_;
  Deferred d;
  {
    std::lock_guard lk(m.mu);
    if (m.started || m.stopping) return;
    m.started = true;
    if (!m.async()) return;
    std::vector<int> eager;
    for (size_t i = 0; i < m.entries.size(); ++i) {
      const Entry& e = *m.entries[i];
      if (e.config.preload == Preload::eager && e.config_error.empty()) eager.push_back(static_cast<int>(i));
    }
    std::stable_sort(eager.begin(), eager.end(),
                     [&](int a, int b) { return m.at(a).config.priority > m.at(b).config.priority; });
    for (const int idx : eager) {
      Entry& e = m.at(idx);
      if (e.state == ModelState::unloaded)
        m.ensure_loading(idx, JobClass::eager, d);
      else if (e.state != ModelState::loading)
        e.eager_settled = true;
    }
  }
  d.run();
}

bool ModelManager::eager_settled() const {
  const Impl& m = *impl_;
  if (!m.async()) return true;
  std::lock_guard lk(m.mu);
  if (!m.started) return false;
  return std::all_of(m.entries.begin(), m.entries.end(), [](const auto& e) {
    return e->config.preload != Preload::eager || e->eager_settled || e->state == ModelState::ready;
  });
}

void ModelManager::acquire(std::string_view name, std::chrono::steady_clock::time_point deadline, Done done) {
  Impl& m = *impl_;
  Deferred d;
  Acquired now;
  bool answered = true;
  {
    std::unique_lock lk(m.mu);
    const int idx = m.find(name);
    if (idx < 0) {
      now = Acquired{{}, AcquireError::not_found, fmt::format("unknown model '{}'", name)};
    } else if (m.stopping) {
      now = Acquired{{}, AcquireError::shutting_down, "server is shutting down"};
    } else {
      Entry& e = m.at(idx);
      e.last_used = ++m.tick;
      m.record_request(idx);
      if (e.state == ModelState::unloading) e.state = ModelState::ready;  // revived: still in memory
      if (e.state == ModelState::ready) {
        ++m.st.cache_hits;
        if (e.preloaded) {
          ++m.st.preload_hits;
          e.preloaded = false;
        }
        now = Acquired{m.make_lease(idx), AcquireError::none, {}};
      } else if (e.state == ModelState::failed) {
        now = Acquired{{}, e.fail_kind, e.reason};
      } else if (!m.async()) {
        ++m.st.cache_misses;
        e.user_unloaded = false;
        Impl::Outcome r = m.sync_ready(idx, deadline, lk, d);
        if (r.error == AcquireError::none)
          now = Acquired{m.make_lease(idx), AcquireError::none, {}};
        else
          now = Acquired{{}, r.error, std::move(r.message)};
      } else {
        ++m.st.cache_misses;
        e.user_unloaded = false;
        e.preloaded = false;
        if (e.state == ModelState::loading && e.abandon_why != Abandon::none) {
          now = Acquired{{}, e.abandon_why == Abandon::timeout ? AcquireError::timeout : AcquireError::cancelled,
                         e.abandon_why == Abandon::timeout ? m.timeout_message(e)
                                                           : fmt::format("load of '{}' was cancelled", e.config.name)};
        } else {
          m.ensure_loading(idx, JobClass::demand, d);
          if (e.state == ModelState::failed) {
            now = Acquired{{}, e.fail_kind, e.reason};
          } else {
            answered = false;
            m.add_waiter(idx, deadline, std::move(done), d);
          }
        }
      }
    }
  }
  d.run();
  if (answered) done(std::move(now));
}

void ModelManager::load(std::string_view name, std::function<void(Status)> done) {
  Impl& m = *impl_;
  const int idx = m.find(name);  // configs are immutable: no lock needed
  if (idx < 0) {
    done(make_error(fmt::format("unknown model '{}'", name)));
    return;
  }
  // A retry re-reads the weights file's size (I/O, so before the lock).
  std::optional<Result<uint64_t>> size;
  if (m.at(idx).config_error.empty()) size = weights_file_size(m.configs[static_cast<size_t>(idx)]);

  Deferred d;
  std::optional<Status> now;
  {
    std::unique_lock lk(m.mu);
    Entry& e = m.at(idx);
    if (m.stopping) {
      now = make_error("server is shutting down");
    } else if (!e.config_error.empty()) {
      now = make_error(e.config_error);
    } else {
      if (e.state == ModelState::failed || e.state == ModelState::unloaded) {
        if (size && *size && e.estimate != **size) {
          e.estimate_total = e.estimate_total - e.estimate + **size;
          e.estimate = **size;
        }
        if (e.state == ModelState::failed) {  // retry
          e.state = ModelState::unloaded;
          e.reason.clear();
          e.fail_kind = AcquireError::none;
        }
        if (size && !*size) m.fail(idx, AcquireError::failed, size->error().message, d);
      }
      e.user_unloaded = false;
      if (e.state == ModelState::unloading) e.state = ModelState::ready;
      if (e.state == ModelState::ready) {
        now = Ok{};
      } else if (e.state == ModelState::failed) {
        now = make_error(e.reason);
      } else if (!m.async()) {
        Impl::Outcome r = m.sync_ready(idx, kNever, lk, d);
        now = r.error == AcquireError::none ? Status(Ok{}) : Status(make_error(r.message));
      } else {
        m.ensure_loading(idx, JobClass::demand, d);
        if (e.state == ModelState::failed)
          now = make_error(e.reason);
        else
          m.add_waiter(idx, kNever, [done](Acquired a) {
            done(a.ok() ? Status(Ok{}) : Status(make_error(std::move(a.message))));
          }, d);
      }
    }
  }
  d.run();
  if (now) done(std::move(*now));
}

Status ModelManager::unload(std::string_view name, bool unload_dependents) {
  Impl& m = *impl_;
  Deferred d;
  Status result = Ok{};
  {
    std::lock_guard lk(m.mu);
    const int idx = m.find(name);
    if (idx < 0) return make_error(fmt::format("unknown model '{}'", name));
    result = m.unload_locked(idx, unload_dependents, d);
  }
  d.run();
  return result;
}

std::vector<ModelStatus> ModelManager::index() const {
  const Impl& m = *impl_;
  std::vector<ModelStatus> out;
  std::lock_guard lk(m.mu);
  out.reserve(m.entries.size());
  for (const auto& e : m.entries) {
    const bool in_memory = e->state == ModelState::ready || e->state == ModelState::unloading;
    out.push_back(ModelStatus{e->config.name, e->config.kind, e->state,
                              e->state == ModelState::failed ? e->reason : std::string(),
                              in_memory ? e->memory : 0, e->leases});
  }
  return out;
}

const std::vector<ModelConfig>& ModelManager::configs() const { return impl_->configs; }

int ModelManager::find(std::string_view name) const { return impl_->find(name); }

ModelStatus ModelManager::status(std::string_view name) const {
  const Impl& m = *impl_;
  const int idx = m.find(name);
  if (idx < 0) return ModelStatus{std::string(name), {}, ModelState::unloaded, "unknown model", 0, 0};
  std::lock_guard lk(m.mu);
  const Entry& e = m.at(idx);
  const bool in_memory = e.state == ModelState::ready || e.state == ModelState::unloading;
  return ModelStatus{e.config.name, e.config.kind, e.state,
                     e.state == ModelState::failed ? e.reason : std::string(), in_memory ? e.memory : 0, e.leases};
}

ManagerStats ModelManager::stats() const {
  const Impl& m = *impl_;
  std::lock_guard lk(m.mu);
  ManagerStats s = m.st;
  s.queue_depth = static_cast<uint32_t>(m.queue.size());
  s.loading = m.running;
  s.memory_in_use = m.used;
  s.memory_budget = m.opt.memory_budget;
  return s;
}

void ModelManager::shutdown() {
  Impl& m = *impl_;
  {
    std::unique_lock lk(m.mu);
    if (m.stopping) {  // another caller is shutting down, or done
      m.state_cv.wait(lk, [&] { return m.stopped; });
      return;
    }
    m.stopping = true;
    m.state_cv.notify_all();  // sync callers waiting for room or for a load give up
    Deferred d;
    // Queued loads and loads waiting for dependencies: cancelled now.
    for (size_t i = 0; i < m.entries.size(); ++i) {
      Entry& e = *m.entries[i];
      if (e.state == ModelState::loading && !e.running)
        m.cancel_load(static_cast<int>(i), AcquireError::shutting_down, "server is shutting down", d);
    }
    lk.unlock();
    d.run();
    lk.lock();
    // Running loads finish (their waiters get the result).
    m.state_cv.wait(lk, [&] { return m.running == 0; });
    m.stop_threads = true;
    m.loader_cv.notify_all();
    m.timer_cv.notify_all();
  }
  for (auto& t : m.loaders) t.join();
  if (m.timer_thread.joinable()) m.timer_thread.join();
  Deferred d;
  {
    std::lock_guard lk(m.mu);
    for (size_t i = 0; i < m.entries.size(); ++i)
      m.deliver_error(static_cast<int>(i), AcquireError::shutting_down, "server is shutting down", d);
    m.stopped = true;
    m.state_cv.notify_all();
  }
  d.run();
}

}  // namespace servelab::models
