// The model manager over real repositories written by make_repository: real
// safetensors files, real SHA-256 checks, real Eigen models. A load is made
// slow deterministically by the on_load_start hook (a Gate the test opens),
// never by sleeping.

#include "models/model_manager.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "model_test_util.h"
#include "models/repository_maker.h"
#include "support/temp_dir.h"
#include "support/wait_until.h"

namespace servelab::models {
namespace {

namespace fs = std::filesystem;
using servelab::testing::TempDir;
using servelab::testing::wait_until;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kForever = Clock::time_point::max();

// Adds top-level keys to a model's model.toml (make_repository writes a
// flat table, so appended keys land at the top level).
void add_keys(const TempDir& repo, const std::string& model, const std::string& lines) {
  std::ofstream(repo.path() / model / "model.toml", std::ios::app) << lines << "\n";
}

void make(const TempDir& repo, int count, std::vector<int> dims = {8, 16, 4}) {
  MakeOptions o;
  o.count = count;
  o.dims = std::move(dims);
  ASSERT_TRUE(make_repository(repo.str(), o).ok());
}

uint64_t weights_size(const TempDir& repo, const std::string& model) {
  return static_cast<uint64_t>(fs::file_size(repo.path() / model / "model.safetensors"));
}

// Blocks the loads of chosen models until opened (or the load is abandoned)
// and records the order in which loads started and on which thread.
class Gate {
 public:
  explicit Gate(std::set<std::string> blocked = {}) : blocked_(std::move(blocked)) {}

  void open() {
    std::lock_guard lk(mu_);
    open_ = true;
    cv_.notify_all();
  }

  void pass(const std::string& name, const std::atomic<bool>& abandon) {
    std::unique_lock lk(mu_);
    started_.push_back(name);
    threads_.push_back(std::this_thread::get_id());
    if (blocked_.count(name) == 0) return;
    // Bounded: a stuck test fails instead of hanging. Short waits because
    // `abandon` is set by the manager, which does not signal this cv.
    const auto end = Clock::now() + 10s;
    while (!open_ && !abandon.load() && Clock::now() < end) cv_.wait_for(lk, 1ms);
  }

  std::function<void(const std::string&, const std::atomic<bool>&)> hook() {
    return
        [this](const std::string& name, const std::atomic<bool>& abandon) { pass(name, abandon); };
  }

  std::vector<std::string> started() const {
    std::lock_guard lk(mu_);
    return started_;
  }
  std::vector<std::thread::id> threads() const {
    std::lock_guard lk(mu_);
    return threads_;
  }
  size_t count(const std::string& name) const {
    std::lock_guard lk(mu_);
    return static_cast<size_t>(std::count(started_.begin(), started_.end(), name));
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  std::set<std::string> blocked_;
  std::vector<std::string> started_;
  std::vector<std::thread::id> threads_;
};

// Catches the one answer of an acquire().
class Answer {
 public:
  ModelManager::Done done() {
    return [this](Acquired a) {
      std::lock_guard lk(mu_);
      got_ = std::move(a);
      thread_ = std::this_thread::get_id();
    };
  }
  bool arrived() const {
    std::lock_guard lk(mu_);
    return got_.has_value();
  }
  // Waits (bounded) and returns the answer; an empty failed one if none came.
  Acquired get() {
    if (!wait_until([&] { return arrived(); }))
      return Acquired{{}, AcquireError::failed, "no answer in time"};
    std::lock_guard lk(mu_);
    return *got_;
  }
  void reset() {
    std::lock_guard lk(mu_);
    got_.reset();
  }
  std::thread::id thread() const {
    std::lock_guard lk(mu_);
    return thread_;
  }

 private:
  mutable std::mutex mu_;
  std::optional<Acquired> got_;
  std::thread::id thread_;
};

std::unique_ptr<ModelManager> open_manager(const TempDir& repo, ManagerOptions o) {
  auto m = ModelManager::open(repo.str(), std::move(o));
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message);
  return m.ok() ? std::move(*m) : nullptr;
}

Acquired acquire_now(ModelManager& m, const std::string& name,
                     Clock::time_point deadline = kForever) {
  Answer a;
  m.acquire(name, deadline, a.done());
  return a.get();
}

bool state_is(const ModelManager& m, const std::string& name, ModelState s) {
  return wait_until([&] { return m.status(name).state == s; });
}

TEST(ModelManager, ConcurrentAcquiresLoadOnceAndAllWaitersGetTheLease) {
  TempDir repo;
  make(repo, 1);
  Gate gate({"mlp-0"});
  ManagerOptions o;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);

  constexpr int kCallers = 8;
  std::vector<Answer> answers(kCallers);
  std::vector<std::thread> callers;
  for (int i = 0; i < kCallers; ++i)
    callers.emplace_back(
        [&, i] { m->acquire("mlp-0", kForever, answers[static_cast<size_t>(i)].done()); });
  for (auto& t : callers) t.join();
  EXPECT_EQ(m->status("mlp-0").state, ModelState::loading);
  EXPECT_EQ(m->stats().cache_misses, static_cast<uint64_t>(kCallers));
  for (auto& a : answers) EXPECT_FALSE(a.arrived());  // nobody blocked: all are waiters

  gate.open();
  const Model* first = nullptr;
  for (auto& a : answers) {
    Acquired got = a.get();
    ASSERT_TRUE(got.ok()) << got.message;
    if (first == nullptr) first = got.lease.get();
    EXPECT_EQ(got.lease.get(), first);
  }
  EXPECT_EQ(gate.count("mlp-0"), 1u);
  const ManagerStats s = m->stats();
  EXPECT_EQ(s.loads, 1u);
  EXPECT_EQ(s.load_time_us.count(), 1u);
  EXPECT_EQ(m->status("mlp-0").state, ModelState::ready);

  // A ready model answers on the calling thread, as a cache hit.
  Answer hit;
  m->acquire("mlp-0", kForever, hit.done());
  EXPECT_TRUE(hit.arrived());
  EXPECT_EQ(hit.thread(), std::this_thread::get_id());
  EXPECT_EQ(m->stats().cache_hits, 1u);
}

TEST(ModelManager, ReadyModelIsNeverDelayedByAnotherModelsLoad) {
  TempDir repo;
  make(repo, 2);
  Gate gate({"mlp-1"});
  ManagerOptions o;
  o.max_concurrent_loads = 1;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  ASSERT_TRUE(acquire_now(*m, "mlp-0").ok());
  Answer slow;
  m->acquire("mlp-1", kForever, slow.done());
  ASSERT_TRUE(wait_until([&] { return gate.count("mlp-1") == 1; }));  // the only loader is busy
  Answer fast;
  m->acquire("mlp-0", kForever, fast.done());
  EXPECT_TRUE(fast.arrived());  // answered inside acquire(), on this thread
  EXPECT_TRUE(fast.get().ok());
  EXPECT_FALSE(slow.arrived());
  gate.open();
  EXPECT_TRUE(slow.get().ok());
}

TEST(ModelManager, LeaseServesInferenceAndCountsAsInUse) {
  TempDir repo;
  make(repo, 1);
  auto m = open_manager(repo, {});
  ASSERT_TRUE(m);
  Acquired got = acquire_now(*m, "mlp-0");
  ASSERT_TRUE(got.ok()) << got.message;
  std::vector<float> in(8, 0.5f), out(4, 0.0f);
  got.lease->infer(in.data(), 1, out.data());
  EXPECT_EQ(m->status("mlp-0").in_use, 1u);
  EXPECT_GT(m->status("mlp-0").memory_bytes, 0u);
  got = Acquired{};
  EXPECT_EQ(m->status("mlp-0").in_use, 0u);
}

TEST(ModelManager, UnknownModelIsNotFound) {
  TempDir repo;
  make(repo, 1);
  auto m = open_manager(repo, {});
  ASSERT_TRUE(m);
  Acquired got = acquire_now(*m, "nope");
  EXPECT_EQ(got.error, AcquireError::not_found);
  EXPECT_EQ(m->find("nope"), -1);
  EXPECT_EQ(m->find("mlp-0"), 0);
}

TEST(ModelManager, SyncModeLoadsOnTheCallersThread) {
  TempDir repo;
  make(repo, 2);
  Gate gate;
  ManagerOptions o;
  o.async = false;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  m->start();  // lazy: loads nothing
  EXPECT_TRUE(m->eager_settled());
  EXPECT_EQ(m->status("mlp-0").state, ModelState::unloaded);

  Answer a;
  m->acquire("mlp-0", Clock::now() + 5s, a.done());
  ASSERT_TRUE(a.arrived());  // answered before acquire() returned
  EXPECT_TRUE(a.get().ok()) << a.get().message;
  EXPECT_EQ(a.thread(), std::this_thread::get_id());
  ASSERT_THAT(gate.threads(), ElementsAre(std::this_thread::get_id()));
  EXPECT_EQ(m->stats().preloads, 0u);
}

TEST(ModelManager, SyncModeEvictsToRespectTheBudget) {
  TempDir repo;
  make(repo, 3);
  ManagerOptions o;
  o.async = false;
  o.memory_budget = 2 * weights_size(repo, "mlp-0");
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  for (const char* name : {"mlp-0", "mlp-1", "mlp-2", "mlp-0"})
    EXPECT_TRUE(acquire_now(*m, name).ok()) << name;
  const ManagerStats s = m->stats();
  EXPECT_LE(s.memory_peak, o.memory_budget);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(m->status("mlp-1").state, ModelState::unloaded);
}

TEST(ModelManager, DependenciesLoadFirstAndAreNotUnloadedUnderTheirDependents) {
  TempDir repo;
  make(repo, 3);
  add_keys(repo, "mlp-0", "depends_on = [\"mlp-1\"]");
  add_keys(repo, "mlp-1", "depends_on = [\"mlp-2\"]");
  Gate gate;
  ManagerOptions o;
  o.max_concurrent_loads = 2;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);

  Acquired got = acquire_now(*m, "mlp-0");
  ASSERT_TRUE(got.ok()) << got.message;
  EXPECT_THAT(gate.started(), ElementsAre("mlp-2", "mlp-1", "mlp-0"));

  auto refused = m->unload("mlp-2", false);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.error().message, HasSubstr("needed by mlp-1"));
  EXPECT_EQ(m->status("mlp-2").state, ModelState::ready);

  ASSERT_TRUE(m->unload("mlp-2", true).ok());
  // mlp-0 is leased: it leaves memory with its last lease, and what it
  // depends on stays with it until then.
  for (const char* name : {"mlp-0", "mlp-1", "mlp-2"})
    EXPECT_EQ(m->status(name).state, ModelState::unloading) << name;
  got = Acquired{};
  for (const char* name : {"mlp-0", "mlp-1", "mlp-2"})
    EXPECT_EQ(m->status(name).state, ModelState::unloaded) << name;
  EXPECT_EQ(m->stats().memory_in_use, 0u);
  EXPECT_EQ(m->stats().unloads, 3u);
}

TEST(ModelManager, SyncModeLoadsDependenciesFirst) {
  TempDir repo;
  make(repo, 2);
  add_keys(repo, "mlp-0", "depends_on = [\"mlp-1\"]");
  Gate gate;
  ManagerOptions o;
  o.async = false;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  EXPECT_TRUE(acquire_now(*m, "mlp-0").ok());
  EXPECT_THAT(gate.started(), ElementsAre("mlp-1", "mlp-0"));
}

TEST(ModelManager, DependencyCycleIsRejectedWithItsPath) {
  TempDir repo;
  make(repo, 3);
  add_keys(repo, "mlp-0", "depends_on = [\"mlp-1\"]");
  add_keys(repo, "mlp-1", "depends_on = [\"mlp-2\"]");
  add_keys(repo, "mlp-2", "depends_on = [\"mlp-0\"]");
  auto m = ModelManager::open(repo.str(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.error().message, HasSubstr("mlp-0 -> mlp-1 -> mlp-2 -> mlp-0"));
}

TEST(ModelManager, SelfDependencyIsACycle) {
  TempDir repo;
  make(repo, 1);
  add_keys(repo, "mlp-0", "depends_on = [\"mlp-0\"]");
  auto m = ModelManager::open(repo.str(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.error().message, HasSubstr("mlp-0 -> mlp-0"));
}

TEST(ModelManager, UnknownDependencyIsRejectedByName) {
  TempDir repo;
  make(repo, 1);
  add_keys(repo, "mlp-0", "depends_on = [\"ghost\"]");
  auto m = ModelManager::open(repo.str(), {});
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(m.error().message, HasSubstr("unknown model 'ghost'"));
  EXPECT_THAT(m.error().message, HasSubstr("mlp-0"));
}

TEST(ModelManager, EvictionNeverRemovesAnInUseModel) {
  TempDir repo;
  make(repo, 3);
  ManagerOptions o;
  o.memory_budget = 2 * weights_size(repo, "mlp-0");
  o.prediction = false;
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);

  Acquired held = acquire_now(*m, "mlp-0");  // least recently used, but in use
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(acquire_now(*m, "mlp-1").ok());  // lease dropped at once
  Acquired third = acquire_now(*m, "mlp-2");
  ASSERT_TRUE(third.ok()) << third.message;
  EXPECT_EQ(m->status("mlp-0").state, ModelState::ready);
  EXPECT_EQ(m->status("mlp-1").state, ModelState::unloaded);
  EXPECT_EQ(m->stats().evictions, 1u);

  // Both resident models in use: a load waits for a lease to drop.
  Answer waiting;
  m->acquire("mlp-1", kForever, waiting.done());
  EXPECT_FALSE(waiting.arrived());
  EXPECT_EQ(m->stats().queue_depth, 1u);
  EXPECT_EQ(m->status("mlp-0").state, ModelState::ready);
  EXPECT_EQ(m->status("mlp-2").state, ModelState::ready);
  third = Acquired{};
  Acquired got = waiting.get();
  ASSERT_TRUE(got.ok()) << got.message;
  EXPECT_EQ(m->status("mlp-0").state, ModelState::ready);
  EXPECT_EQ(m->status("mlp-2").state, ModelState::unloaded);
  EXPECT_LE(m->stats().memory_peak, o.memory_budget);
}

TEST(ModelManager, BudgetIsRespectedUnderConcurrentLoads) {
  TempDir repo;
  make(repo, 6);
  ManagerOptions o;
  o.max_concurrent_loads = 3;
  o.memory_budget = 2 * weights_size(repo, "mlp-0") + 10;
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int c = 0; c < 4; ++c)
    clients.emplace_back([&, c] {
      for (int i = 0; i < 15; ++i) {
        Acquired a = acquire_now(*m, fmt::format("mlp-{}", (c + i) % 6), Clock::now() + 5s);
        if (a.ok()) ++ok;
      }
    });
  for (auto& t : clients) t.join();
  const ManagerStats s = m->stats();
  EXPECT_EQ(ok.load(), 60);
  EXPECT_LE(s.memory_peak, o.memory_budget);
  EXPECT_GT(s.evictions, 0u);
  const auto index = m->index();
  const auto ready = std::count_if(index.begin(), index.end(), [](const ModelStatus& st) {
    return st.state == ModelState::ready;
  });
  EXPECT_EQ(s.loads,
            s.evictions + static_cast<uint64_t>(ready));  // every load ended evicted or resident
}

TEST(ModelManager, ModelLargerThanTheBudgetFailsClearly) {
  TempDir repo;
  make(repo, 1);
  ManagerOptions o;
  o.memory_budget = weights_size(repo, "mlp-0") / 2;
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  Acquired got = acquire_now(*m, "mlp-0");
  EXPECT_EQ(got.error, AcquireError::too_large);
  EXPECT_THAT(got.message, HasSubstr("larger than the memory budget"));
  EXPECT_EQ(m->status("mlp-0").state, ModelState::failed);
}

TEST(ModelManager, TamperedWeightsFailTheirOwnLoadWhileOthersServe) {
  TempDir repo;
  make(repo, 3);
  {  // flip the last byte of mlp-1's tensor data: parses, wrong digest
    std::fstream f(repo.path() / "mlp-1" / "model.safetensors",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-1, std::ios::end);
    const char c = static_cast<char>(f.get());
    f.seekp(-1, std::ios::end);
    f.put(static_cast<char>(c ^ 0x55));
  }
  fs::resize_file(repo.path() / "mlp-2" / "model.safetensors", 12);  // corrupt: cannot parse
  auto m = open_manager(repo, {});
  ASSERT_TRUE(m);
  m->start();
  ASSERT_TRUE(wait_until([&] { return m->eager_settled(); }));

  Acquired tampered = acquire_now(*m, "mlp-1");
  EXPECT_EQ(tampered.error, AcquireError::failed);
  EXPECT_THAT(tampered.message, HasSubstr("sha256"));
  EXPECT_THAT(m->status("mlp-1").reason, HasSubstr("model.toml expects"));
  Acquired corrupt = acquire_now(*m, "mlp-2");
  EXPECT_EQ(corrupt.error, AcquireError::failed);
  EXPECT_THAT(corrupt.message, HasSubstr("mlp-2"));
  EXPECT_TRUE(acquire_now(*m, "mlp-0").ok());
  EXPECT_EQ(m->stats().load_failures, 2u);
}

TEST(ModelManager, BadModelTomlFailsOnlyThatModel) {
  TempDir repo;
  make(repo, 2);
  add_keys(repo, "mlp-1", "colour = \"blue\"");
  auto m = open_manager(repo, {});
  ASSERT_TRUE(m);
  Acquired bad = acquire_now(*m, "mlp-1");
  EXPECT_EQ(bad.error, AcquireError::failed);
  EXPECT_THAT(bad.message, HasSubstr("unknown key \"colour\""));
  EXPECT_TRUE(acquire_now(*m, "mlp-0").ok());
}

TEST(ModelManager, WaiterDeadlinePassesWhileTheLoadGoesOn) {
  TempDir repo;
  make(repo, 1);
  Gate gate({"mlp-0"});
  ManagerOptions o;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  Answer a;
  m->acquire("mlp-0", Clock::now() + 30ms, a.done());
  Acquired got = a.get();
  EXPECT_EQ(got.error, AcquireError::timeout);
  EXPECT_THAT(got.message, HasSubstr("deadline"));
  EXPECT_EQ(m->stats().wait_timeouts, 1u);
  gate.open();
  EXPECT_TRUE(acquire_now(*m, "mlp-0").ok());  // the load itself went on
  EXPECT_EQ(m->stats().loads, 1u);
}

TEST(ModelManager, LoadTimeoutFailsTheLoadWithItsReason) {
  TempDir repo;
  make(repo, 1);
  add_keys(repo, "mlp-0", "load_timeout = \"40ms\"");
  Gate gate({"mlp-0"});  // never opened: only the timeout ends the load
  ManagerOptions o;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  Acquired got = acquire_now(*m, "mlp-0");
  EXPECT_EQ(got.error, AcquireError::timeout);
  EXPECT_THAT(got.message, HasSubstr("load timed out after 40 ms"));
  ASSERT_TRUE(state_is(*m, "mlp-0", ModelState::failed));
  const ManagerStats s = m->stats();
  EXPECT_EQ(s.load_timeouts, 1u);
  EXPECT_EQ(s.load_failures, 1u);
  EXPECT_EQ(s.memory_in_use, 0u);
}

TEST(ModelManager, UnloadCancelsARunningLoad) {
  TempDir repo;
  make(repo, 1);
  Gate gate({"mlp-0"});
  ManagerOptions o;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  Answer a;
  m->acquire("mlp-0", kForever, a.done());
  ASSERT_TRUE(wait_until([&] { return gate.count("mlp-0") == 1; }));
  ASSERT_TRUE(m->unload("mlp-0", false).ok());
  EXPECT_EQ(a.get().error, AcquireError::cancelled);
  ASSERT_TRUE(state_is(*m, "mlp-0", ModelState::unloaded));
  EXPECT_EQ(m->stats().load_cancelled, 1u);
  EXPECT_EQ(m->stats().memory_in_use, 0u);
}

TEST(ModelManager, UnloadCancelsAQueuedLoad) {
  TempDir repo;
  make(repo, 2);
  Gate gate({"mlp-0"});
  ManagerOptions o;
  o.max_concurrent_loads = 1;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  Answer first, queued;
  m->acquire("mlp-0", kForever, first.done());
  ASSERT_TRUE(wait_until([&] { return gate.count("mlp-0") == 1; }));
  m->acquire("mlp-1", kForever, queued.done());
  EXPECT_EQ(m->stats().queue_depth, 1u);
  ASSERT_TRUE(m->unload("mlp-1", false).ok());
  EXPECT_EQ(queued.get().error, AcquireError::cancelled);
  EXPECT_EQ(m->stats().queue_depth, 0u);
  gate.open();
  EXPECT_TRUE(first.get().ok());
  EXPECT_EQ(gate.count("mlp-1"), 0u);
}

TEST(ModelManager, ShutdownCancelsQueuedLoadsAndWaitsForRunningOnes) {
  TempDir repo;
  make(repo, 3);
  Gate gate({"mlp-0"});
  ManagerOptions o;
  o.max_concurrent_loads = 1;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  Answer running, queued1, queued2;
  m->acquire("mlp-0", kForever, running.done());
  ASSERT_TRUE(wait_until([&] { return gate.count("mlp-0") == 1; }));
  m->acquire("mlp-1", kForever, queued1.done());
  m->acquire("mlp-2", kForever, queued2.done());

  std::atomic<bool> down{false};
  std::thread stopper([&] {
    m->shutdown();
    down = true;
  });
  EXPECT_EQ(queued1.get().error, AcquireError::shutting_down);
  EXPECT_EQ(queued2.get().error, AcquireError::shutting_down);
  EXPECT_FALSE(down.load());  // still waiting for the running load
  EXPECT_FALSE(running.arrived());
  gate.open();
  stopper.join();
  EXPECT_TRUE(down.load());
  EXPECT_TRUE(running.get().ok());  // the running load completed for its waiter
  EXPECT_EQ(acquire_now(*m, "mlp-0").error, AcquireError::shutting_down);
  EXPECT_EQ(m->stats().load_cancelled, 2u);
  EXPECT_EQ(gate.count("mlp-1"), 0u);
  m->shutdown();  // idempotent
}

TEST(ModelManager, EagerModelsPreloadInPriorityOrder) {
  TempDir repo;
  make(repo, 4);
  add_keys(repo, "mlp-0", "priority = 1");
  add_keys(repo, "mlp-1", "priority = 5");
  add_keys(repo, "mlp-2", "preload = \"lazy\"");
  add_keys(repo, "mlp-3", "priority = 3");
  Gate gate({"mlp-1"});  // holds the loader until all eager jobs are queued
  ManagerOptions o;
  o.max_concurrent_loads = 1;
  o.prediction = false;
  o.on_load_start = gate.hook();
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->eager_settled());
  m->start();
  gate.open();
  ASSERT_TRUE(wait_until([&] { return m->eager_settled(); }));
  EXPECT_THAT(gate.started(), ElementsAre("mlp-1", "mlp-3", "mlp-0"));
  EXPECT_EQ(m->status("mlp-2").state, ModelState::unloaded);
  EXPECT_EQ(m->stats().preloads, 3u);

  // A request for a preloaded model is a preload hit.
  EXPECT_TRUE(acquire_now(*m, "mlp-3").ok());
  EXPECT_EQ(m->stats().preload_hits, 1u);
}

TEST(ModelManager, EagerPreloadNeverEvicts) {
  TempDir repo;
  make(repo, 3);
  ManagerOptions o;
  o.max_concurrent_loads = 1;
  o.prediction = false;
  o.memory_budget = 2 * weights_size(repo, "mlp-0");
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  m->start();
  ASSERT_TRUE(wait_until([&] { return m->eager_settled(); }));
  const ManagerStats s = m->stats();
  EXPECT_EQ(s.loads, 2u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.preload_skipped, 1u);
}

TEST(ModelManager, PredictionPreloadsAHotModelThatWasEvicted) {
  TempDir repo;
  make(repo, 3);
  for (const char* name : {"mlp-0", "mlp-1", "mlp-2"}) add_keys(repo, name, "preload = \"lazy\"");
  ManagerOptions o;
  o.memory_budget = 2 * weights_size(repo, "mlp-0");
  o.prediction_interval = 5ms;
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  m->start();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(acquire_now(*m, "mlp-0").ok());
  ASSERT_TRUE(acquire_now(*m, "mlp-1").ok());
  ASSERT_TRUE(acquire_now(*m, "mlp-2").ok());  // evicts mlp-0, the least recently used
  // The predictor brings the hot model back (evicting a much colder one).
  ASSERT_TRUE(wait_until(
      [&] { return m->stats().preloads >= 1 && m->status("mlp-0").state == ModelState::ready; }));
  EXPECT_TRUE(acquire_now(*m, "mlp-0").ok());
  const ManagerStats s = m->stats();
  EXPECT_EQ(s.preload_hits, 1u);
  EXPECT_LE(s.memory_peak, o.memory_budget);
}

TEST(ModelManager, PredictionLeavesPreloadNoneModelsAlone) {
  TempDir repo;
  make(repo, 2);
  add_keys(repo, "mlp-0", "preload = \"none\"");
  add_keys(repo, "mlp-1", "preload = \"lazy\"");
  ManagerOptions o;
  o.memory_budget = weights_size(repo, "mlp-0") + 10;
  o.prediction_interval = 1ms;
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(acquire_now(*m, "mlp-0").ok());
  ASSERT_TRUE(acquire_now(*m, "mlp-1").ok());  // evicts mlp-0
  // Wait for a few predictor ticks to have run: mlp-0 must stay unloaded.
  const auto ticks_end = Clock::now() + 30ms;
  ASSERT_TRUE(wait_until([&] { return Clock::now() >= ticks_end; }));
  EXPECT_EQ(m->status("mlp-0").state, ModelState::unloaded);
  EXPECT_EQ(m->stats().preloads, 0u);
}

TEST(ModelManager, LoadRetriesAFailedModelAndAnswersWhenReady) {
  TempDir repo;
  make(repo, 1);
  const fs::path weights = repo.path() / "mlp-0" / "model.safetensors";
  const fs::path saved = repo.path() / "saved.safetensors";
  fs::rename(weights, saved);
  auto m = open_manager(repo, {});
  ASSERT_TRUE(m);
  EXPECT_EQ(acquire_now(*m, "mlp-0").error, AcquireError::failed);

  fs::rename(saved, weights);
  std::optional<Status> loaded;
  std::mutex mu;
  m->load("mlp-0", [&](Status s) {
    std::lock_guard lk(mu);
    loaded = std::move(s);
  });
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lk(mu);
    return loaded.has_value();
  }));
  EXPECT_TRUE(loaded->ok()) << loaded->error().message;
  EXPECT_EQ(m->status("mlp-0").state, ModelState::ready);
  auto idx = m->index();
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_EQ(idx[0].name, "mlp-0");
  EXPECT_EQ(idx[0].kind, "mlp");
  EXPECT_EQ(idx[0].state, ModelState::ready);
}

// Runs `fn` on its own thread and waits for it (bounded). A call that never
// returns cannot be joined: the test binary aborts with `what` instead of
// hanging.
template <class Fn>
void returns_in_time(const char* what, Fn fn, std::chrono::milliseconds deadline = 10s) {
  auto done = std::make_shared<std::atomic<bool>>(false);
  std::thread t([fn = std::move(fn), done]() mutable {
    fn();
    done->store(true);
  });
  if (!wait_until([&] { return done->load(); }, deadline)) {
    std::fprintf(stderr, "FATAL: %s did not return in time\n", what);
    std::abort();
  }
  t.join();
}

Status load_now(ModelManager& m, const std::string& name) {
  std::optional<Status> loaded;
  std::mutex mu;
  returns_in_time("load()", [&] {
    m.load(name, [&](Status s) {
      std::lock_guard lk(mu);
      loaded = std::move(s);
    });
  });
  const bool answered = wait_until([&] {
    std::lock_guard lk(mu);
    return loaded.has_value();
  });
  if (!answered) return make_error("load() never answered");
  return *loaded;
}

TEST(ModelManager, LoadThatThrowsFailsOnlyThatModelAndTheLoaderThreadGoesOn) {
  TempDir repo;
  make(repo, 2);
  ManagerOptions o;
  o.max_concurrent_loads = 1;  // the one loader thread must survive the throw
  o.on_load_start = [](const std::string& name, const std::atomic<bool>&) {
    if (name == "mlp-0") throw std::bad_alloc();
  };
  std::mutex mu;
  std::vector<std::string> logged;
  o.on_load_failed = [&](const std::string& name, const std::string& reason) {
    std::lock_guard lk(mu);
    logged.push_back(name + ": " + reason);
  };
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  m->start();
  ASSERT_TRUE(wait_until([&] { return m->eager_settled(); }));
  EXPECT_EQ(m->status("mlp-0").state, ModelState::failed);
  EXPECT_THAT(m->status("mlp-0").reason, HasSubstr("out of memory"));
  Acquired bad = acquire_now(*m, "mlp-0");
  EXPECT_EQ(bad.error, AcquireError::failed);
  EXPECT_THAT(bad.message, HasSubstr("mlp-0"));
  EXPECT_TRUE(acquire_now(*m, "mlp-1").ok());
  Status retry = load_now(*m, "mlp-0");
  ASSERT_FALSE(retry.ok());
  EXPECT_THAT(retry.error().message, HasSubstr("out of memory"));
  {
    std::lock_guard lk(mu);
    ASSERT_FALSE(logged.empty());
    EXPECT_THAT(logged[0],
                HasSubstr("mlp-0: mlp-0: weights file model.safetensors: out of memory"));
  }
  returns_in_time("shutdown()", [&] { m->shutdown(); });
}

TEST(ModelManager, SyncModeLoadThatThrowsFailsWakesEveryWaiterAndShutdownReturns) {
  TempDir repo;
  make(repo, 2);
  Gate gate({"mlp-0"});
  ManagerOptions o;
  o.async = false;
  o.on_load_start = [&gate](const std::string& name, const std::atomic<bool>& abandon) {
    gate.pass(name, abandon);
    if (name == "mlp-0") throw std::bad_alloc();
  };
  auto m = open_manager(repo, o);
  ASSERT_TRUE(m);
  Answer first, second;
  std::atomic<bool> threw{false};
  std::thread loader([&] {
    try {
      m->acquire("mlp-0", Clock::now() + 8s, first.done());
    } catch (...) {
      threw = true;
    }
  });
  ASSERT_TRUE(wait_until([&] { return gate.count("mlp-0") == 1; }));
  // Waits on the first caller's inline load.
  std::thread waiter([&] { m->acquire("mlp-0", Clock::now() + 8s, second.done()); });
  gate.open();
  loader.join();
  EXPECT_FALSE(threw.load());
  const Acquired a = first.get();
  EXPECT_EQ(a.error, AcquireError::failed);
  EXPECT_THAT(a.message, HasSubstr("mlp-0: weights file model.safetensors: out of memory"));
  const Acquired b = second.get();
  EXPECT_EQ(b.error, AcquireError::failed) << b.message;
  EXPECT_THAT(b.message, HasSubstr("out of memory"));
  waiter.join();
  EXPECT_EQ(m->status("mlp-0").state, ModelState::failed);
  EXPECT_THAT(m->status("mlp-0").reason, HasSubstr("out of memory"));

  Status retry = load_now(*m, "mlp-0");  // retried inline, fails again, answers
  ASSERT_FALSE(retry.ok());
  EXPECT_THAT(retry.error().message, HasSubstr("out of memory"));
  EXPECT_TRUE(acquire_now(*m, "mlp-1").ok());
  returns_in_time("shutdown()", [&] { m->shutdown(); });
}

// The weights file is swapped after the scan (which sized it) and before the
// load: first for a sparse 1 TiB file with a valid header, then for garbage.
// Each load fails cleanly, the other model serves, the fixed file loads.
TEST(ModelManager, WeightsReplacedBetweenScanAndLoadFailThatLoadUntilFixed) {
  for (const bool async : {true, false}) {
    SCOPED_TRACE(async ? "async" : "sync");
    TempDir repo;
    make(repo, 2);
    const fs::path weights = repo.path() / "mlp-0" / "model.safetensors";
    const fs::path saved = repo.path() / "saved.safetensors";
    fs::copy_file(weights, saved);
    ManagerOptions o;
    o.async = async;
    auto m = open_manager(repo, o);
    ASSERT_TRUE(m);

    test::write_sparse_safetensors(weights, uint64_t{1} << 19, uint64_t{1} << 19);
    Acquired huge = acquire_now(*m, "mlp-0");
    EXPECT_EQ(huge.error, AcquireError::failed);
    EXPECT_THAT(huge.message, HasSubstr("bytes a model may take"));
    EXPECT_TRUE(acquire_now(*m, "mlp-1").ok());

    test::write_file(weights, std::string(4096, '\x5a'));
    Status garbage = load_now(*m, "mlp-0");
    ASSERT_FALSE(garbage.ok());
    EXPECT_THAT(garbage.error().message, HasSubstr("header length"));
    EXPECT_EQ(m->status("mlp-0").state, ModelState::failed);

    fs::copy_file(saved, weights, fs::copy_options::overwrite_existing);
    Status fixed = load_now(*m, "mlp-0");
    EXPECT_TRUE(fixed.ok()) << fixed.error().message;
    EXPECT_TRUE(acquire_now(*m, "mlp-0").ok());
    returns_in_time("shutdown()", [&] { m->shutdown(); });
  }
}

}  // namespace
}  // namespace servelab::models
