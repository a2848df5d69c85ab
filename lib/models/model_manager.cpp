// The model manager's state machine: see model_manager.h for the contract,
// docs/MODELS.md for the design. Its parts, each guarded by the same mutex:
// MemoryBudget (bytes in memory, LRU victims), LoadScheduler (load queue,
// loader and timer threads, deadlines) and LoadPredictor (what to preload).
// The mutex is never held across I/O, a load, a model's destruction or a
// caller's callback (those are collected in a Deferred and run after the
// unlock), so a request for a ready model waits at most for a few
// bookkeeping steps, never for someone's load.

#include "models/model_manager.h"

#include <fmt/format.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <unordered_map>
#include <utility>

#include "models/deferred.h"
#include "models/load_predictor.h"
#include "models/load_scheduler.h"
#include "models/memory_budget.h"
#include "models/model_loader.h"
#include "models/model_slot.h"
#include "models/repository_scan.h"

namespace servelab::models {

std::string_view to_string(ModelState s) {
  switch (s) {
    case ModelState::unloaded:
      return "unloaded";
    case ModelState::loading:
      return "loading";
    case ModelState::ready:
      return "ready";
    case ModelState::failed:
      return "failed";
    case ModelState::unloading:
      return "unloading";
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
constexpr TimePoint kNever = TimePoint::max();
constexpr std::string_view kShuttingDown = "server is shutting down";

struct Waiter {
  int idx = -1;
  ModelManager::Done done;
  std::optional<LoadScheduler::DeadlineId> deadline;
};

std::string wait_timeout_message(const ModelSlot& e) {
  return fmt::format("model '{}' did not become ready before the request's deadline (state {})",
                     e.config.name, to_string(e.state));
}

std::string load_timeout_message(const ModelSlot& e) {
  return fmt::format("model '{}': load timed out after {} ms (load_timeout in model.toml)",
                     e.config.name, e.config.load_timeout.count());
}

std::string cancelled_message(const ModelSlot& e) {
  return fmt::format("load of '{}' was cancelled", e.config.name);
}

bool in_memory(const ModelSlot& e) {
  return e.state == ModelState::ready || e.state == ModelState::unloading;
}

ModelStatus status_of(const ModelSlot& e) {
  return ModelStatus{e.config.name,
                     e.config.kind,
                     e.state,
                     e.state == ModelState::failed ? e.reason : std::string(),
                     in_memory(e) ? e.memory : 0,
                     e.leases};
}

// Memory a model needs with all it depends on (each dependency once), bytes.
uint64_t estimate_with_dependencies(const ModelSlots& slots, size_t root) {
  std::vector<bool> seen(slots.size(), false);
  std::vector<size_t> stack{root};
  uint64_t total = 0;
  while (!stack.empty()) {
    const size_t k = stack.back();
    stack.pop_back();
    if (seen[k]) continue;
    seen[k] = true;
    total += slots[k]->estimate;
    for (const int dep : slots[k]->deps) stack.push_back(static_cast<size_t>(dep));
  }
  return total;
}

}  // namespace

struct ModelManager::Impl final : LoadScheduler::Host,
                                  std::enable_shared_from_this<ModelManager::Impl> {
  Impl(ManagerOptions options, std::vector<ModelConfig> model_configs, ModelSlots model_slots)
      : opt(std::move(options)),
        configs(std::move(model_configs)),
        slots(std::move(model_slots)),
        budget(opt.memory_budget),
        predictor(opt.async && opt.prediction, opt.history, opt.prediction_interval, Clock::now()),
        scheduler(mu, *this, slots) {}

  const ManagerOptions opt;
  const std::vector<ModelConfig> configs;  // sorted by name, like slots
  ModelSlots slots;

  mutable std::mutex mu;
  std::condition_variable state_cv;  // a load finished, a lease dropped (sync mode, shutdown)
  MemoryBudget budget;
  LoadPredictor predictor;
  LoadScheduler scheduler;

  bool started = false;
  bool stopping_ = false;
  bool stopped = false;
  uint64_t next_seq = 0;
  uint64_t next_waiter = 0;
  uint64_t tick_count = 0;  // LRU clock
  std::unordered_map<uint64_t, Waiter> waiters;
  uint32_t running = 0;  // loads in progress (loader threads and sync callers)
  ManagerStats st;

  ModelSlot& at(int idx) { return *slots[static_cast<size_t>(idx)]; }
  const ModelSlot& at(int idx) const { return *slots[static_cast<size_t>(idx)]; }

  int find(std::string_view name) const {
    const auto it =
        std::lower_bound(configs.begin(), configs.end(), name,
                         [](const ModelConfig& c, std::string_view n) { return c.name < n; });
    return it != configs.end() && it->name == name ? static_cast<int>(it - configs.begin()) : -1;
  }

  bool async() const { return opt.async; }
  bool stopping() const override { return stopping_; }

  // ---- leases ------------------------------------------------------------

  ModelLease make_lease(int idx) {
    ModelSlot& e = at(idx);
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
      ModelSlot& e = at(idx);
      --e.leases;
      if (e.leases == 0) {
        if (e.state == ModelState::unloading && e.pins == 0) finish_unload(idx, d);
        // The model may now be evicted to make room for a waiting load.
        if (scheduler.queued() != 0) scheduler.wake_loaders();
        state_cv.notify_all();
      }
    }
    d.run();
  }

  // ---- memory ------------------------------------------------------------

  bool reserve(int idx, JobClass policy, Deferred& d) override {
    return budget.reserve(slots, at(idx), policy, [&](int victim) { evict(victim, d); });
  }

  // Model `idx` leaves memory (its weights are destroyed after the unlock).
  void leave_memory(int idx, Deferred& d) {
    ModelSlot& e = at(idx);
    d.dead.push_back(std::move(e.model));
    e.model.reset();
    budget.account(e, 0);
    e.state = ModelState::unloaded;
    release_pins(idx, d);
  }

  void evict(int idx, Deferred& d) {
    at(idx).preloaded = false;
    ++st.evictions;
    leave_memory(idx, d);
  }

  // An unloaded (or unloading) model's last lease and pin are gone.
  void finish_unload(int idx, Deferred& d) {
    leave_memory(idx, d);
    state_cv.notify_all();
    scheduler.wake_loaders();
  }

  void pin_deps(int idx) {
    ModelSlot& e = at(idx);
    if (e.holds_pins) return;
    for (const int dep : e.deps) ++at(dep).pins;
    e.holds_pins = true;
  }

  void release_pins(int idx, Deferred& d) {
    ModelSlot& e = at(idx);
    if (!e.holds_pins) return;
    e.holds_pins = false;
    for (const int dep : e.deps) {
      ModelSlot& de = at(dep);
      --de.pins;
      if (de.pins == 0 && de.leases == 0 && de.state == ModelState::unloading)
        finish_unload(dep, d);
    }
  }

  // A model still in memory but on its way out is wanted again: ready.
  static void revive(ModelSlot& e) {
    if (e.state == ModelState::unloading) e.state = ModelState::ready;
  }

  // ---- waiters -----------------------------------------------------------

  void add_waiter(int idx, TimePoint deadline, Done done, Deferred& d) {
    ModelSlot& e = at(idx);
    if (deadline <= Clock::now()) {
      ++st.wait_timeouts;
      d.callbacks.emplace_back(std::move(done),
                               Acquired{{}, AcquireError::timeout, wait_timeout_message(e)});
      return;
    }
    const uint64_t id = next_waiter++;
    Waiter w{idx, std::move(done), std::nullopt};
    if (deadline != kNever)
      w.deadline = scheduler.add_deadline(
          deadline, LoadScheduler::Deadline{LoadScheduler::Deadline::waiter, id});
    waiters.emplace(id, std::move(w));
    e.waiters.push_back(id);
  }

  Waiter take_waiter(uint64_t id) {
    auto node = waiters.extract(id);
    Waiter w = std::move(node.mapped());
    if (w.deadline) scheduler.cancel_deadline(*w.deadline);
    return w;
  }

  // Answers every request waiting for `idx`: a lease each when `kind` is
  // none (the model is ready), else the error.
  void deliver(int idx, AcquireError kind, const std::string& message, Deferred& d) {
    ModelSlot& e = at(idx);
    for (const uint64_t id : e.waiters) {
      Waiter w = take_waiter(id);
      d.callbacks.emplace_back(std::move(w.done),
                               kind == AcquireError::none
                                   ? Acquired{make_lease(idx), AcquireError::none, {}}
                                   : Acquired{{}, kind, message});
    }
    e.waiters.clear();
  }

  void wait_deadline_passed(uint64_t id, Deferred& d) override {
    auto it = waiters.find(id);
    if (it == waiters.end()) return;
    Waiter w = std::move(it->second);  // its deadline is already off the scheduler's list
    waiters.erase(it);
    ModelSlot& e = at(w.idx);
    e.waiters.erase(std::find(e.waiters.begin(), e.waiters.end(), id));
    ++st.wait_timeouts;
    d.callbacks.emplace_back(std::move(w.done),
                             Acquired{{}, AcquireError::timeout, wait_timeout_message(e)});
  }

  // ---- state transitions -------------------------------------------------

  // A load that was on its way (queued, waiting for dependencies or running)
  // ends without a model. `to` is failed (sticky: `message` becomes the
  // reason requests get) or unloaded (dropped: the next request starts over).
  void end_load(int idx, ModelState to, AcquireError kind, std::string message, Deferred& d) {
    ModelSlot& e = at(idx);
    scheduler.remove(idx);
    e.state = to;
    if (to == ModelState::failed) {
      e.fail_kind = kind;
      e.reason = std::move(message);
    }
    e.deps_pending = 0;
    e.eager_settled = true;
    release_pins(idx, d);
    deliver(idx, kind, to == ModelState::failed ? e.reason : message, d);
    dep_done(idx, d);
    state_cv.notify_all();
  }

  void fail(int idx, AcquireError kind, std::string reason, Deferred& d) {
    end_load(idx, ModelState::failed, kind, std::move(reason), d);
  }
  void drop(int idx, AcquireError kind, std::string message, Deferred& d) {
    end_load(idx, ModelState::unloaded, kind, std::move(message), d);
  }

  void fail_for_dependency(int idx, int dep, Deferred& d) {
    const ModelSlot& de = at(dep);
    fail(idx, AcquireError::failed,
         fmt::format("dependency '{}' failed: {}", de.config.name, de.reason), d);
  }

  void skip_preload(int idx, std::string message, Deferred& d) {
    ++st.preload_skipped;
    drop(idx, AcquireError::cancelled, std::move(message), d);
  }

  void no_room_for_preload(int idx, Deferred& d) override {
    skip_preload(idx, "preload dropped: no room in the memory budget", d);
  }

  // Fails `idx` at once when it cannot fit the budget even alone with its
  // dependencies; true then.
  bool fail_if_too_large(int idx, Deferred& d) {
    const ModelSlot& e = at(idx);
    if (budget.could_fit(e.estimate_total)) return false;
    fail(idx, AcquireError::too_large,
         fmt::format(
             "model '{}' needs {} bytes (weights{}), larger than the memory budget of {} bytes",
             e.config.name, e.estimate_total, e.deps.empty() ? "" : " with its dependencies",
             budget.budget()),
         d);
    return true;
  }

  // Model `idx` left `loading`: move on the dependents that waited for it.
  void dep_done(int idx, Deferred& d) {
    const ModelSlot& e = at(idx);
    for (const int x : e.dependents) {
      ModelSlot& xe = at(x);
      if (xe.state != ModelState::loading || xe.queued || xe.running || xe.deps_pending == 0)
        continue;
      if (e.state == ModelState::ready) {
        if (--xe.deps_pending == 0) scheduler.enqueue(x);
      } else if (e.state == ModelState::failed) {
        fail_for_dependency(x, idx, d);
      } else if (xe.job != JobClass::demand) {
        skip_preload(x, "preload dropped", d);
      } else {
        ++st.load_cancelled;
        drop(x, stopping_ ? AcquireError::shutting_down : AcquireError::cancelled,
             fmt::format("load of '{}' cancelled: its dependency '{}' was cancelled",
                         xe.config.name, e.config.name),
             d);
      }
    }
  }

  void upgrade_to_demand(int idx) {
    ModelSlot& e = at(idx);
    if (e.state != ModelState::loading || e.job == JobClass::demand) return;
    e.job = JobClass::demand;
    for (const int dep : e.deps) upgrade_to_demand(dep);
  }

  // unloaded → loading: a fresh attempt for `cls`, pinning the dependencies.
  void start_loading(int idx, JobClass cls) {
    ModelSlot& e = at(idx);
    e.state = ModelState::loading;
    e.job = cls;
    e.seq = next_seq++;
    e.abandon.store(false);
    e.abandon_why = Abandon::none;
    e.reason.clear();
    e.fail_kind = AcquireError::none;
    e.deps_pending = 0;
    pin_deps(idx);
  }

  // Async mode: makes sure `idx` is ready or on its way (dependencies first).
  void ensure_loading(int idx, JobClass cls, Deferred& d) {
    ModelSlot& e = at(idx);
    switch (e.state) {
      case ModelState::ready:
        return;
      case ModelState::unloading:
        revive(e);
        return;
      case ModelState::failed:
        return;
      case ModelState::loading:
        if (cls == JobClass::demand) upgrade_to_demand(idx);
        return;
      case ModelState::unloaded:
        break;
    }
    if (fail_if_too_large(idx, d)) return;
    start_loading(idx, cls);
    for (const int dep : e.deps) {
      ensure_loading(dep, cls, d);
      const ModelSlot& de = at(dep);
      if (de.state == ModelState::failed) {
        fail_for_dependency(idx, dep, d);
        return;
      }
      if (de.state != ModelState::ready) ++e.deps_pending;
    }
    if (e.deps_pending == 0) scheduler.enqueue(idx);
  }

  // Cancels a load (unload() while loading, shutdown): a running one is
  // abandoned at its next check and finish_load() completes the transition.
  void cancel_load(int idx, AcquireError kind, std::string message, Deferred& d) {
    ModelSlot& e = at(idx);
    ++st.load_cancelled;
    if (e.running) {
      e.abandon_why = Abandon::cancelled;
      e.abandon.store(true);
      deliver(idx, kind, message, d);
      return;
    }
    drop(idx, kind, std::move(message), d);
  }

  // ---- loading -----------------------------------------------------------

  void begin_load(int idx) override {
    ModelSlot& e = at(idx);
    e.running = true;
    ++running;
    e.load_started = Clock::now();
    if (e.job != JobClass::demand) ++st.preloads;
  }

  // The largest weights file a load may read, bytes: the memory budget, or
  // with none the machine's physical memory (load_model's default, 0).
  uint64_t weights_limit() const { return opt.memory_budget; }

  // Runs without the lock: the test hook, then the load with its checks.
  // Never throws: every exception becomes this load's error.
  LoadOutcome run_load(int idx) override {
    ModelSlot& e = at(idx);  // config and load_started are not written while running
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
    // A load throws only when something is badly wrong (out of memory for a
    // file that passed every check, a throwing test hook): it fails this
    // model's load with the reason, never the loader thread or the server.
    try {
      if (opt.on_load_start) opt.on_load_start(e.config.name, e.abandon);
      out.result = load_model(e.config, check, weights_limit());
    } catch (const std::bad_alloc&) {
      out.result = make_error(fmt::format("{}: weights file {}: out of memory while loading",
                                          e.config.name, e.config.weights));
    } catch (const std::exception& ex) {
      out.result = make_error(fmt::format("{}: weights file {}: load failed: {}", e.config.name,
                                          e.config.weights, ex.what()));
    } catch (...) {
      out.result = make_error(
          fmt::format("{}: weights file {}: load failed", e.config.name, e.config.weights));
    }
    return out;
  }

  void finish_load(int idx, LoadOutcome out, Deferred& d) override {
    ModelSlot& e = at(idx);
    e.running = false;
    --running;
    scheduler.cancel_load_deadline(idx);
    Abandon why = e.abandon_why;
    // A failure after the deadline is a timeout too: the last step overran
    // (there is no check after it).
    if (why == Abandon::none &&
        (out.timed_out ||
         (!out.result.ok() && Clock::now() > e.load_started + e.config.load_timeout))) {
      why = Abandon::timeout;
      ++st.load_timeouts;
    }
    if (why != Abandon::none) {
      if (out.result.ok()) d.dead.push_back(std::move(*out.result));  // too late: discarded
      budget.account(e, 0);
      if (why == Abandon::timeout) {
        ++st.load_failures;
        fail(idx, AcquireError::timeout, load_timeout_message(e), d);
      } else {
        drop(idx, stopping_ ? AcquireError::shutting_down : AcquireError::cancelled,
             cancelled_message(e), d);
      }
    } else if (out.result.ok()) {
      e.model = std::move(*out.result);
      budget.account(e, e.model->memory_bytes());
      e.state = ModelState::ready;
      e.last_used = ++tick_count;
      e.eager_settled = true;
      ++st.loads;
      st.load_time_us.record(
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - e.load_started)
              .count());
      e.preloaded = e.job != JobClass::demand && e.waiters.empty();
      deliver(idx, AcquireError::none, {}, d);
      dep_done(idx, d);
    } else {
      budget.account(e, 0);
      ++st.load_failures;
      if (opt.on_load_failed) {
        // Logged after the unlock, like every callback.
        d.callbacks.emplace_back(
            [cb = opt.on_load_failed, name = e.config.name,
             why = out.result.error().message](const Acquired&) { cb(name, why); },
            Acquired{});
      }
      fail(idx, AcquireError::failed, out.result.error().message, d);
    }
    state_cv.notify_all();
    scheduler.wake_loaders();  // memory may have been released
  }

  void load_deadline_passed(int idx, Deferred& d) override {
    ModelSlot& e = at(idx);
    if (!e.running || e.abandon_why != Abandon::none) return;
    e.abandon_why = Abandon::timeout;
    e.abandon.store(true);
    ++st.load_timeouts;
    // Answer the waiters now; the state turns failed when the loader returns.
    deliver(idx, AcquireError::timeout, load_timeout_message(e), d);
  }

  // ---- predictor -----------------------------------------------------------

  TimePoint next_tick() const override { return predictor.next_run(); }

  void tick(TimePoint now, Deferred& d) override {
    if (!predictor.due(now)) return;
    predict(d);
    predictor.ran(now);
  }

  // Scores every model from the history; when no request is waiting for a
  // loader, starts one preload of the best-scored model not in memory that
  // fits (evicting only much colder models).
  void predict(Deferred& d) {
    if (stopping_ || predictor.empty()) return;
    predictor.score(slots);
    if (scheduler.queued() != 0 || running >= static_cast<uint32_t>(opt.max_concurrent_loads))
      return;
    const int best = predictor.choose(slots, budget);
    if (best >= 0) ensure_loading(best, JobClass::predicted, d);
  }

  // ---- sync mode ------------------------------------------------------------

  struct Outcome {
    AcquireError error = AcquireError::none;
    std::string message;
  };

  Outcome unavailable(const ModelSlot& e) const {
    if (stopping_) return {AcquireError::shutting_down, std::string(kShuttingDown)};
    return {e.fail_kind, e.reason};
  }

  // Makes `idx` ready on the calling thread (dependencies first), or says why
  // not. Others asking for the same model meanwhile wait on state_cv.
  Outcome sync_ready(int idx, TimePoint deadline, std::unique_lock<std::mutex>& lk, Deferred& d) {
    while (true) {
      ModelSlot& e = at(idx);
      if (stopping_) return {AcquireError::shutting_down, std::string(kShuttingDown)};
      switch (e.state) {
        case ModelState::ready:
          return {};
        case ModelState::unloading:
          revive(e);
          return {};
        case ModelState::failed:
          return unavailable(e);
        case ModelState::loading:
          if (e.abandon_why != Abandon::none) return {AcquireError::cancelled, "load cancelled"};
          if (deadline == kNever)
            state_cv.wait(lk);
          else if (state_cv.wait_until(lk, deadline) == std::cv_status::timeout &&
                   e.state == ModelState::loading) {
            ++st.wait_timeouts;
            return {AcquireError::timeout, wait_timeout_message(e)};
          }
          continue;
        case ModelState::unloaded:
          break;
      }
      if (fail_if_too_large(idx, d)) return unavailable(e);
      start_loading(idx, JobClass::demand);
      for (const int dep : e.deps) {
        Outcome r = sync_ready(dep, deadline, lk, d);
        if (r.error == AcquireError::none) continue;
        if (at(dep).state == ModelState::failed) {
          fail_for_dependency(idx, dep, d);
          return unavailable(e);
        }
        drop(idx, r.error, r.message, d);  // timeout or shutdown: not this model's fault
        return r;
      }
      while (!reserve(idx, JobClass::demand, d)) {
        if (stopping_) {
          drop(idx, AcquireError::shutting_down, std::string(kShuttingDown), d);
          return {AcquireError::shutting_down, std::string(kShuttingDown)};
        }
        if (deadline == kNever) {
          state_cv.wait(lk);
        } else if (state_cv.wait_until(lk, deadline) == std::cv_status::timeout) {
          ++st.wait_timeouts;
          const std::string why = fmt::format(
              "model '{}': no room in the memory budget before the request's deadline (models in "
              "use)",
              e.config.name);
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
        return {stopping_ ? AcquireError::shutting_down : AcquireError::cancelled,
                cancelled_message(e)};
    }
  }

  // ---- unload ------------------------------------------------------------

  Status unload_locked(int idx, bool unload_dependents, Deferred& d) {
    ModelSlot& e = at(idx);
    std::vector<int> needed_by;
    for (const int x : e.dependents)
      if (at(x).holds_pins) needed_by.push_back(x);
    if (!needed_by.empty()) {
      if (!unload_dependents) {
        std::vector<std::string> names;
        for (const int x : needed_by) names.push_back(at(x).config.name);
        return make_error(fmt::format(
            "model '{}' is needed by {} (loaded); unload them first or set unload_dependents",
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
        cancel_load(idx, AcquireError::cancelled,
                    fmt::format("model '{}' was unloaded while loading", e.config.name), d);
        break;
      case ModelState::failed:
        if (e.config_error.empty()) {
          e.state = ModelState::unloaded;
          e.reason.clear();
          e.fail_kind = AcquireError::none;
        }
        break;
      case ModelState::unloading:
      case ModelState::unloaded:
        break;
    }
    state_cv.notify_all();
    scheduler.wake_loaders();
    return Ok{};
  }
};

// ---- public API -------------------------------------------------------------

ModelManager::ModelManager(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

ModelManager::~ModelManager() { shutdown(); }

Result<std::unique_ptr<ModelManager>> ModelManager::open(const std::string& dir,
                                                         ManagerOptions options) {
  auto scanned = scan_repository(dir);
  if (!scanned) return std::move(scanned).error();
  options.max_concurrent_loads = std::max(1, options.max_concurrent_loads);
  options.history = std::max<size_t>(1, options.history);
  if (options.prediction_interval.count() <= 0)
    options.prediction_interval = std::chrono::milliseconds(20);

  std::vector<ModelConfig> configs;
  ModelSlots slots;
  for (ModelEntry& me : *scanned) {
    auto e = std::make_unique<ModelSlot>();
    e->config = me.config;
    e->config_error = me.error;
    std::string unavailable = e->config_error;
    if (unavailable.empty()) {
      if (auto size = weights_file_size(e->config); size)
        e->estimate = *size;
      else  // no weights file: fails like a load would, retried by load()
        unavailable = size.error().message;
    }
    if (!unavailable.empty()) {
      e->state = ModelState::failed;
      e->fail_kind = AcquireError::failed;
      e->reason = std::move(unavailable);
      e->eager_settled = true;
    }
    configs.push_back(std::move(me.config));
    slots.push_back(std::move(e));
  }
  // Dependency indices (names checked by scan_repository); configs are sorted by name.
  const auto index_of = [&](const std::string& name) {
    return static_cast<int>(
        std::lower_bound(configs.begin(), configs.end(), name,
                         [](const ModelConfig& c, const std::string& n) { return c.name < n; }) -
        configs.begin());
  };
  for (size_t i = 0; i < slots.size(); ++i) {
    for (const std::string& dep : slots[i]->config.depends_on) {
      const int d = index_of(dep);
      slots[i]->deps.push_back(d);
      slots[static_cast<size_t>(d)]->dependents.push_back(static_cast<int>(i));
    }
  }
  for (size_t i = 0; i < slots.size(); ++i)
    slots[i]->estimate_total = estimate_with_dependencies(slots, i);

  auto impl = std::make_shared<Impl>(std::move(options), std::move(configs), std::move(slots));
  if (impl->opt.async) impl->scheduler.start(impl->opt.max_concurrent_loads);
  return std::unique_ptr<ModelManager>(new ModelManager(std::move(impl)));
}

void ModelManager::start() {
  Impl& m = *impl_;
  Deferred d;
  {
    std::lock_guard lk(m.mu);
    if (m.started || m.stopping_) return;
    m.started = true;
    if (!m.async()) return;
    std::vector<int> eager;
    for (size_t i = 0; i < m.slots.size(); ++i) {
      const ModelSlot& e = *m.slots[i];
      if (e.config.preload == Preload::eager && e.config_error.empty())
        eager.push_back(static_cast<int>(i));
    }
    std::stable_sort(eager.begin(), eager.end(), [&](int a, int b) {
      return m.at(a).config.priority > m.at(b).config.priority;
    });
    for (const int idx : eager) {
      ModelSlot& e = m.at(idx);
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
  return std::all_of(m.slots.begin(), m.slots.end(), [](const auto& e) {
    return e->config.preload != Preload::eager || e->eager_settled || e->state == ModelState::ready;
  });
}

void ModelManager::acquire(std::string_view name, std::chrono::steady_clock::time_point deadline,
                           Done done) {
  Impl& m = *impl_;
  Deferred d;
  Acquired now;
  bool answered = true;
  {
    std::unique_lock lk(m.mu);
    const int idx = m.find(name);
    if (idx < 0) {
      now = Acquired{{}, AcquireError::not_found, fmt::format("unknown model '{}'", name)};
    } else if (m.stopping_) {
      now = Acquired{{}, AcquireError::shutting_down, std::string(kShuttingDown)};
    } else {
      ModelSlot& e = m.at(idx);
      e.last_used = ++m.tick_count;
      m.predictor.record(idx);
      Impl::revive(e);
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
          now = e.abandon_why == Abandon::timeout
                    ? Acquired{{}, AcquireError::timeout, load_timeout_message(e)}
                    : Acquired{{}, AcquireError::cancelled, cancelled_message(e)};
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
    ModelSlot& e = m.at(idx);
    if (m.stopping_) {
      now = make_error(std::string(kShuttingDown));
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
      Impl::revive(e);
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
          m.add_waiter(
              idx, kNever,
              [done](Acquired a) {
                done(a.ok() ? Status(Ok{}) : Status(make_error(std::move(a.message))));
              },
              d);
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
  out.reserve(m.slots.size());
  for (const auto& e : m.slots) out.push_back(status_of(*e));
  return out;
}

const std::vector<ModelConfig>& ModelManager::configs() const { return impl_->configs; }

int ModelManager::find(std::string_view name) const { return impl_->find(name); }

ModelStatus ModelManager::status(std::string_view name) const {
  const Impl& m = *impl_;
  const int idx = m.find(name);
  if (idx < 0)
    return ModelStatus{std::string(name), {}, ModelState::unloaded, "unknown model", 0, 0};
  std::lock_guard lk(m.mu);
  return status_of(m.at(idx));
}

ManagerStats ModelManager::stats() const {
  const Impl& m = *impl_;
  std::lock_guard lk(m.mu);
  ManagerStats s = m.st;
  s.queue_depth = static_cast<uint32_t>(m.scheduler.queued());
  s.loading = m.running;
  s.memory_in_use = m.budget.used();
  s.memory_budget = m.budget.budget();
  s.memory_peak = m.budget.peak();
  return s;
}

void ModelManager::shutdown() {
  Impl& m = *impl_;
  {
    std::unique_lock lk(m.mu);
    if (m.stopping_) {  // another caller is shutting down, or done
      m.state_cv.wait(lk, [&] { return m.stopped; });
      return;
    }
    m.stopping_ = true;
    m.state_cv.notify_all();  // sync callers waiting for room or for a load give up
    Deferred d;
    // Queued loads and loads waiting for dependencies: cancelled now.
    for (size_t i = 0; i < m.slots.size(); ++i) {
      const ModelSlot& e = *m.slots[i];
      if (e.state == ModelState::loading && !e.running)
        m.cancel_load(static_cast<int>(i), AcquireError::shutting_down, std::string(kShuttingDown),
                      d);
    }
    lk.unlock();
    d.run();
    lk.lock();
    // Running loads finish (their waiters get the result).
    m.state_cv.wait(lk, [&] { return m.running == 0; });
    m.scheduler.stop();
  }
  m.scheduler.join();
  Deferred d;
  {
    std::lock_guard lk(m.mu);
    for (size_t i = 0; i < m.slots.size(); ++i)
      m.deliver(static_cast<int>(i), AcquireError::shutting_down, std::string(kShuttingDown), d);
    m.stopped = true;
    m.state_cv.notify_all();
  }
  d.run();
}

}  // namespace servelab::models
