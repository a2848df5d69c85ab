#pragma once
// Helpers for the lib/serve tests: a model manager over a repository made
// on the fly, plus the loopback client of http/test_client.h.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "http/test_client.h"
#include "models/model_manager.h"
#include "models/repository_maker.h"
#include "support/temp_dir.h"

namespace servelab::test {

using servelab::testing::TempDir;

// A model manager over `dir`; by default sync mode (a model loads on first
// use, on the calling thread), so that tests of the API see loaded models at
// once. One per InferenceApi: the API shuts its manager down.
inline std::unique_ptr<models::ModelManager> open_manager(
    const std::string& dir, models::ManagerOptions options = [] {
      models::ManagerOptions o;
      o.async = false;
      return o;
    }()) {
  auto manager = models::ModelManager::open(dir, std::move(options));
  EXPECT_TRUE(manager.ok()) << manager.error().message;
  return manager.ok() ? std::move(manager).value() : nullptr;
}

// Holds the loads of the models in `blocked` at their start until open() or
// until the manager abandons them: a load made slow deterministically.
class LoadGate {
 public:
  explicit LoadGate(std::set<std::string> blocked) : blocked_(std::move(blocked)) {}
  void hold(const std::string& name, const std::atomic<bool>& abandon) {
    if (blocked_.count(name) == 0) return;
    std::unique_lock lock(mu_);
    ++held_;
    // Bounded: a test that forgets to open the gate fails instead of hanging.
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!open_ && !abandon.load() && std::chrono::steady_clock::now() < give_up) {
      cv_.wait_for(lock, 5ms);
    }
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  int held() {
    std::lock_guard lock(mu_);
    return held_;
  }

 private:
  std::set<std::string> blocked_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int held_ = 0;
};

}  // namespace servelab::test
