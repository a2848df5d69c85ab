#include "batch/compute_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

namespace servelab::batch {
namespace {

TEST(ComputePool, JoinRunsEveryPostedTaskOnThePoolsThreads) {
  ComputePool pool(2);
  EXPECT_EQ(pool.threads(), 2);
  std::atomic<int> ran{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  for (int i = 0; i < 100; ++i) {
    pool.post([&] {
      ran.fetch_add(1);
      std::lock_guard lock(mu);
      ids.insert(std::this_thread::get_id());
    });
  }
  pool.join();
  EXPECT_EQ(ran.load(), 100);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

TEST(ComputePool, AThrowingTaskDoesNotStopTheOthers) {
  ComputePool pool(1);
  std::atomic<int> ran{0};
  pool.post([] { throw std::runtime_error("boom"); });
  pool.post([&] { ran.fetch_add(1); });
  pool.join();
  EXPECT_EQ(ran.load(), 1);
}

TEST(ComputePool, DefaultSizeIsTheCpusThisProcessMayUse) {
  ComputePool pool(0);
  EXPECT_EQ(pool.threads(), available_cpus());
  EXPECT_GE(available_cpus(), 1);
}

}  // namespace
}  // namespace servelab::batch
