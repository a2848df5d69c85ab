#pragma once
// The server's compute threads: forward passes (batched or not) run here, so
// that a long batch never stalls the network threads that accept and read
// requests. A thin wrapper over asio::thread_pool.

#include <functional>
#include <memory>

namespace servelab::batch {

// CPUs this process may run on (its affinity mask, so `taskset -c 0` gives
// 1), at least 1.
int available_cpus();

class ComputePool {
 public:
  // `threads` < 1: available_cpus().
  explicit ComputePool(int threads);
  ~ComputePool();  // join()
  ComputePool(const ComputePool&) = delete;
  ComputePool& operator=(const ComputePool&) = delete;

  // Runs `task` on a compute thread, in FIFO order of posting. Any thread.
  void post(std::function<void()> task);
  // Runs every task posted so far (and those they post), then stops the
  // threads. Idempotent.
  void join();
  int threads() const { return threads_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int threads_;
};

}  // namespace servelab::batch
