#include "batch/compute_pool.h"

#include <sched.h>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <exception>
#include <utility>

namespace servelab::batch {

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? n : 1;
}

struct ComputePool::Impl {
  explicit Impl(int n) : pool(static_cast<std::size_t>(n)) {}
  boost::asio::thread_pool pool;
};

ComputePool::ComputePool(int threads) : threads_(threads > 0 ? threads : available_cpus()) {
  impl_ = std::make_unique<Impl>(threads_);
}

ComputePool::~ComputePool() { join(); }

void ComputePool::post(std::function<void()> task) {
  boost::asio::post(impl_->pool, [task = std::move(task)] {
    // A task that throws must not take a compute thread down with it; tasks
    // report their own errors (RequestBatcher catches around execute).
    try {
      task();
    } catch (const std::exception&) {
    }
  });
}

void ComputePool::join() { impl_->pool.join(); }

}  // namespace servelab::batch
