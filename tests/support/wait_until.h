#pragma once
// Waiting on a condition with a deadline, never on a fixed sleep.

#include <chrono>
#include <thread>

namespace servelab::testing {

// Polls `pred` until it holds or `deadline` passes; true when it held.
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds deadline = std::chrono::milliseconds(5000)) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace servelab::testing
