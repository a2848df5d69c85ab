#pragma once
// The libcurl transport of a load-generator worker thread: a libcurl multi
// handle driven by the LoopCore's epoll loop (curl docs/examples/
// ephiperfifo.c), one reusable easy handle per connection slot. When and
// what to send is decided by LoopCore (shared with the native transport).
// Nothing here is shared with other workers except the ProgressSlot.

#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "load/loop_core.h"
#include "pool/curl_pool.h"

namespace servelab::load {

class GenerateTracker;  // generate_tracker.h

class CurlTransport final : public LoopCore {
 public:
  CurlTransport(const Plan& plan, int index, int threads, int slots, ProgressSlot& progress);
  ~CurlTransport() override;

 protected:
  // Creates the multi handle, the easy handles and the header lists.
  Status setup_transport() override;
  // Removes in-flight transfers and frees every handle.
  void cleanup_transport() noexcept override;
  void begin(uint32_t slot, uint32_t mix, long timeout_ms) noexcept override;
  void on_event(const ::epoll_event& ev) noexcept override;
  void on_turn() noexcept override;
  Clock::time_point next_deadline() const noexcept override {
    return std::min(curl_deadline_, pool_.next_check());
  }
  pool::PoolTracker& pool_tracker() noexcept override { return pool_.tracker(); }

 private:
  struct Slot {
    CURL* easy = nullptr;
    uint32_t mix = UINT32_MAX;  // request the handle is set up for
    long timeout_ms = 0;        // CURLOPT_TIMEOUT_MS currently set
    CurlTransport* transport = nullptr;
    GenerateTracker* gen = nullptr;  // follows `generate` answers (plans with any)
  };

  // What this thread's epoll instance knows about one file descriptor.
  struct FdState {
    bool in_epoll = false;  // registered with epfd()
    uint32_t events = 0;    // the registered EPOLLIN/EPOLLOUT mask
    bool owned = false;     // libcurl currently wants events for it
    bool lazy = false;      // a connection socket opened by on_open_socket
  };

  static int on_socket(CURL* easy, curl_socket_t s, int what, void* userp, void* socketp);
  static curl_socket_t on_open_socket(void* userp, curlsocktype purpose, curl_sockaddr* addr);
  static int on_close_socket(void* userp, curl_socket_t s);
  FdState& fd_state(int fd);
  static int on_timer(CURLM* multi, long timeout_ms, void* userp);
  // libcurl write callback of `generate` transfers: feeds the slot's tracker.
  static size_t on_generate_body(char* data, size_t size, size_t n, void* userp);

  void configure(Slot& slot, uint32_t mix) noexcept;
  void drain_completions() noexcept;
  void complete(uint32_t slot, CURLcode rc) noexcept;
  // Pool: opens pool.min connections before the run (drives the multi
  // handle until they are made or load.timeout passes).
  void preconnect() noexcept;
  // Connections open but carrying no transfer now.
  uint64_t idle_connections() const noexcept;

  CURLM* multi_ = nullptr;
  std::vector<Slot> slots_;
  std::vector<FdState> fds_;          // indexed by fd; grows only on a new highest fd
  std::vector<curl_slist*> headers_;  // one list per PreparedRequest
  std::vector<std::unique_ptr<GenerateTracker>>
      trackers_;         // one per slot, when the plan has generate requests
  uint64_t prompt_rng_;  // draws a generate request's prompt (deterministic per worker)
  Clock::time_point curl_deadline_ = Clock::time_point::max();
  pool::CurlPool pool_;
};

}  // namespace servelab::load
