#include "load/worker.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "load/generate_tracker.h"

namespace servelab::load {
namespace {

using namespace std::chrono_literals;

constexpr auto kPublishEvery = 100ms;
// An open-loop start later than this after its intended time counts as late.
constexpr auto kLateAfter = 1ms;
constexpr int kMaxEvents = 256;
constexpr auto kStageTick = 10ms;

size_t timeline_seconds(const scenario::LoadConfig& load) {
  const auto us = std::max<int64_t>(load.duration.count(), 0);
  return static_cast<size_t>((us + 999'999) / 1'000'000);
}

// The body is never looked at: byte counts come from CURLINFO_SIZE_DOWNLOAD_T.
size_t discard_body(char*, size_t size, size_t n, void*) { return size * n; }

long to_ms(std::chrono::microseconds d) {
  return static_cast<long>(std::max<int64_t>(1, (d.count() + 999) / 1000));
}

bool has_header(const std::vector<std::string>& lines, std::string_view name) {
  for (const std::string& l : lines) {
    if (l.size() > name.size() && l[name.size()] == ':' &&
        strncasecmp(l.data(), name.data(), name.size()) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

Worker::Worker(const Plan& plan, int index, int threads, int slots, ProgressSlot& progress)
    : plan_(plan),
      index_(index),
      open_loop_(plan.load.mode == scenario::LoadMode::open),
      timeout_ms_(to_ms(plan.load.timeout)),
      think_(std::chrono::duration_cast<Clock::duration>(plan.load.think_time)),
      progress_(progress),
      slots_(static_cast<size_t>(slots)),
      recorder_(plan.requests.size(), timeline_seconds(plan.load)),
      mix_rng_(plan.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) + 1),
      prompt_rng_(plan.seed * 0xBF58476D1CE4E5B9ull + static_cast<uint64_t>(index) + 1),
      threads_(threads),
      connections_(static_cast<double>(plan.load.connections),
                   std::chrono::duration_cast<StageSchedule::Nanos>(plan.load.warmup), plan.load.stages,
                   scenario::LoadMode::closed, 1.0),
      staged_closed_(!open_loop_ && !plan.load.stages.empty()) {}

Worker::~Worker() { cleanup(); }

Status Worker::setup() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return make_error(fmt::format("epoll_create1: {}", std::strerror(errno)));
  fds_.resize(1024);
  multi_ = curl_multi_init();
  if (!multi_) return make_error("curl_multi_init failed");
  const long n = static_cast<long>(slots_.size());
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Worker::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Worker::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, n);
  if (plan_.toggles.pooling) {
    // The cache keeps exactly this thread's connections alive between requests.
    curl_multi_setopt(multi_, CURLMOPT_MAX_HOST_CONNECTIONS, n);
  }

  // Header lists are built once per request kind; the easy handles point at them.
  headers_.assign(plan_.requests.size(), nullptr);
  for (size_t i = 0; i < plan_.requests.size(); ++i) {
    const PreparedRequest& r = plan_.requests[i];
    curl_slist* list = nullptr;
    auto append = [&](const char* line) {
      curl_slist* next = curl_slist_append(list, line);
      if (next) list = next;
      return next != nullptr;
    };
    bool ok = true;
    for (const std::string& h : r.headers) ok = ok && append(h.c_str());
    // No "Expect: 100-continue" round trip for larger bodies.
    if (!has_header(r.headers, "Expect")) ok = ok && append("Expect:");
    if (!plan_.toggles.pooling && !has_header(r.headers, "Connection")) {
      ok = ok && append("Connection: close");
    }
    headers_[i] = list;
    if (!ok) return make_error("curl_slist_append failed");
  }

  // generate requests: one tracker per slot, allocated now, reused per request.
  size_t max_gaps = 0;
  for (const PreparedRequest& r : plan_.requests)
    if (r.generate) max_gaps = std::max(max_gaps, static_cast<size_t>(r.max_tokens) + 1);
  if (max_gaps > 0) {
    recorder_.generate().enabled = true;
    constexpr size_t kMaxGaps = 1u << 16;  // 256 KB per slot at most; beyond: counted as itl_dropped
    trackers_.reserve(slots_.size());
    for (size_t i = 0; i < slots_.size(); ++i)
      trackers_.push_back(std::make_unique<GenerateTracker>(std::min(max_gaps, kMaxGaps)));
  }

  for (Slot& slot : slots_) {
    slot.worker = this;
    if (!trackers_.empty()) slot.gen = trackers_[static_cast<size_t>(&slot - slots_.data())].get();
    slot.easy = curl_easy_init();
    if (!slot.easy) return make_error("curl_easy_init failed");
    CURL* e = slot.easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, &slot);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Worker::on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &Worker::on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard_body);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(e, CURLOPT_PROXY, "");  // never through an environment proxy
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms_);
    slot.timeout_ms = timeout_ms_;
    if (!plan_.toggles.pooling) {
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    configure(slot, 0);
  }

  if (open_loop_) {
    free_.reserve(slots_.size());
    for (size_t i = slots_.size(); i-- > 0;) free_.push_back(static_cast<uint32_t>(i));
  } else {
    ring_slot_.assign(slots_.size(), 0);
    ring_ready_.assign(slots_.size(), Clock::time_point{});
    parked_.reserve(slots_.size());
  }
  return Ok{};
}

// Points the easy handle at request `mix`. Only called when a slot switches
// request kind, so a one-entry mix never resets options per request.
void Worker::configure(Slot& slot, uint32_t mix) noexcept {
  const PreparedRequest& r = plan_.requests[mix];
  CURL* e = slot.easy;
  curl_easy_setopt(e, CURLOPT_URL, r.url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);  // back to a plain GET, then specialize
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, static_cast<const char*>(nullptr));
  curl_easy_setopt(e, CURLOPT_NOBODY, r.method == "HEAD" ? 1L : 0L);
  if (!r.body.empty() || r.method == "POST") {
    // The prepared string outlives the run: libcurl sends it without a copy.
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r.body.data());
  }
  if (r.method != "GET" && r.method != "POST" && r.method != "HEAD") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_[mix]);
  if (r.generate) {
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Worker::on_generate_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &slot);
  } else {
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard_body);
  }
  slot.mix = mix;
}

Worker::FdState& Worker::fd_state(int fd) {
  const auto i = static_cast<size_t>(fd);
  if (i >= fds_.size()) fds_.resize(std::max(i + 1, fds_.size() * 2));
  return fds_[i];
}

// A keep-alive connection socket stays registered with epoll between
// transfers (libcurl says CURL_POLL_REMOVE when a transfer ends and asks for
// CURL_POLL_IN again on reuse): that saves an EPOLL_CTL_DEL and an
// EPOLL_CTL_ADD per request. It is safe because every connection socket is
// opened and closed through our callbacks, and close(2) removes it from the
// epoll set; an event on such a socket while libcurl does not own it (the
// peer closed an idle connection) unregisters it then. Other sockets
// (resolver wake-up pipes) are removed at once.
int Worker::on_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
  auto* self = static_cast<Worker*>(userp);
  FdState& st = self->fd_state(s);
  if (what == CURL_POLL_REMOVE) {
    st.owned = false;
    if (!st.lazy && st.in_epoll) {
      epoll_ctl(self->epfd_, EPOLL_CTL_DEL, s, nullptr);  // may already be closed: harmless
      st.in_epoll = false;
    }
    return 0;
  }
  st.owned = true;
  const uint32_t want = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  if (st.in_epoll && st.events == want) return 0;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = s;
  if (!st.in_epoll) {
    if (epoll_ctl(self->epfd_, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) {
      epoll_ctl(self->epfd_, EPOLL_CTL_MOD, s, &ev);
    }
  } else if (epoll_ctl(self->epfd_, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT) {
    epoll_ctl(self->epfd_, EPOLL_CTL_ADD, s, &ev);
  }
  st.in_epoll = true;
  st.events = want;
  return 0;
}

curl_socket_t Worker::on_open_socket(void* userp, curlsocktype purpose, curl_sockaddr* addr) {
  const int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  auto* self = static_cast<Worker*>(userp);
  FdState& st = self->fd_state(fd);
  st = FdState{};
  st.lazy = purpose == CURLSOCKTYPE_IPCXN;
  return fd;
}

int Worker::on_close_socket(void* userp, curl_socket_t s) {
  auto* self = static_cast<Worker*>(userp);
  self->fd_state(s) = FdState{};  // close(2) takes it out of the epoll set
  return close(s);
}

int Worker::on_timer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<Worker*>(userp);
  // Relative to the loop's clock: a timer callback does not read the clock.
  self->curl_deadline_ = timeout_ms < 0 ? Clock::time_point::max()
                                        : self->now_ + std::chrono::milliseconds(timeout_ms);
  return 0;
}

size_t Worker::on_generate_body(char* data, size_t size, size_t n, void* userp) {
  auto* slot = static_cast<Slot*>(userp);
  slot->gen->on_body(std::string_view(data, size * n), slot->worker->now_);
  return size * n;
}

void Worker::start(Slot& slot, Clock::time_point intended) noexcept {
  const auto mix = plan_.requests.size() == 1
                       ? 0u
                       : static_cast<uint32_t>(pick_request(plan_.cumulative_weights, uniform01(mix_rng_)));
  if (slot.mix != mix) configure(slot, mix);
  long timeout = timeout_ms_;
  const auto delay = now_ - intended;
  if (delay > kLateAfter) {
    recorder_.count_late();
    // The timeout runs from the intended send time: a late request has less left.
    const long spent = static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count());
    timeout = std::max(1L, timeout_ms_ - spent);
  }
  if (timeout != slot.timeout_ms) {
    curl_easy_setopt(slot.easy, CURLOPT_TIMEOUT_MS, timeout);
    slot.timeout_ms = timeout;
  }
  if (const PreparedRequest& r = plan_.requests[mix]; r.generate) {
    if (r.bodies.size() > 1) {
      // A prompt drawn per request; the prepared strings outlive the run (no copy).
      const std::string& body = r.bodies[static_cast<size_t>(splitmix64(prompt_rng_) % r.bodies.size())];
      curl_easy_setopt(slot.easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(slot.easy, CURLOPT_POSTFIELDS, body.data());
    }
    slot.gen->begin(intended);
  }
  slot.intended = intended;
  slot.started = now_;
  slot.busy = true;
  ++in_flight_;
  curl_multi_add_handle(multi_, slot.easy);
}

void Worker::drain_completions() noexcept {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* e = msg->easy_handle;
    const CURLcode rc = msg->data.result;  // msg is invalid after remove_handle
    char* priv = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    curl_multi_remove_handle(multi_, e);
    complete(*static_cast<Slot*>(static_cast<void*>(priv)), rc);
  }
}

void Worker::complete(Slot& slot, CURLcode rc) noexcept {
  CURL* e = slot.easy;
  long status = 0, header_bytes = 0, request_bytes = 0, connects = 0;
  curl_off_t body_in = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &body_in);
  curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &header_bytes);
  curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &request_bytes);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);

  Sample s;
  s.latency = std::chrono::duration_cast<std::chrono::microseconds>(now_ - slot.intended);
  s.uncorrected = std::chrono::duration_cast<std::chrono::microseconds>(now_ - slot.started);
  s.at = std::chrono::duration_cast<std::chrono::microseconds>(now_ - clock_.measure_start);
  s.mix_index = slot.mix;
  s.status = static_cast<int>(status);
  s.failed = classify(rc, s.status, &s.error);
  s.bytes_in = static_cast<uint64_t>(std::max<curl_off_t>(body_in, 0)) +
               static_cast<uint64_t>(std::max(header_bytes, 0L));
  // CURLINFO_REQUEST_SIZE counts what was sent: request line, headers and
  // the POSTFIELDS body.
  s.bytes_out = static_cast<uint64_t>(std::max(request_bytes, 0L));
  s.connects = static_cast<uint32_t>(std::max(connects, 0L));
  if (plan_.requests[slot.mix].generate) {
    const GenerateOutcome g = slot.gen->finish(now_, !s.failed && s.status != 0);
    if (g.failed && !s.failed) {
      s.failed = true;  // a broken answer (no [DONE], bad event): a protocol error
      s.error = ErrorClass::protocol;
    }
    record_outcome(recorder_.generate(), g, s.failed);
  }
  recorder_.record(s);
  ++completed_total_;

  slot.busy = false;
  --in_flight_;
  const auto idx = static_cast<uint32_t>(&slot - slots_.data());
  if (open_loop_) {
    free_.push_back(idx);  // within the reserved capacity: no allocation
  } else if (staged_closed_ && active_ > connection_target()) {
    parked_.push_back(idx);  // ramping down: this connection rests
    --active_;
  } else if (think_.count() == 0) {
    start(slot, now_);
  } else {
    const size_t tail = (ring_head_ + ring_size_) % ring_slot_.size();
    ring_slot_[tail] = idx;
    ring_ready_[tail] = now_ + think_;
    ++ring_size_;
  }
}

void Worker::start_due() noexcept {
  if (open_loop_) {
    // Arrivals are started in intended order on whichever slot is free; while
    // none is, they wait (they are the arrivals between peek() and now).
    while (!free_.empty() && arrivals_->peek() <= now_ && arrivals_->peek() < clock_.end) {
      Slot& slot = slots_[free_.back()];
      free_.pop_back();
      start(slot, arrivals_->peek());
      arrivals_->advance();
    }
    return;
  }
  const uint32_t target = staged_closed_ ? connection_target() : 0;
  while (ring_size_ > 0 && ring_ready_[ring_head_] <= now_) {
    const uint32_t idx = ring_slot_[ring_head_];
    ring_head_ = (ring_head_ + 1) % ring_slot_.size();
    --ring_size_;
    if (staged_closed_ && active_ > target) {
      parked_.push_back(idx);
      --active_;
      continue;
    }
    start(slots_[idx], now_);
  }
  // Ramping up: parked connections join the loop.
  while (staged_closed_ && active_ < target && !parked_.empty()) {
    Slot& slot = slots_[parked_.back()];
    parked_.pop_back();
    ++active_;
    start(slot, now_);
  }
}

uint32_t Worker::connection_target() const noexcept {
  const auto total = static_cast<int64_t>(std::llround(connections_.level_at(now_ - clock_.start)));
  // Split like the engine splits connections: the remainder to the first threads.
  const int64_t share = total / threads_ + (index_ < total % threads_ ? 1 : 0);
  return static_cast<uint32_t>(std::clamp<int64_t>(share, 0, static_cast<int64_t>(slots_.size())));
}

void Worker::publish() noexcept {
  const Counters& c = recorder_.counters();
  progress_.completed.store(completed_total_, std::memory_order_relaxed);
  progress_.requests.store(c.requests, std::memory_order_relaxed);
  progress_.errors.store(c.error_total(), std::memory_order_relaxed);
  if (measuring_ && recorder_.latency().count() > 0) {
    progress_.p99_us.store(recorder_.latency().value_at_percentile(99), std::memory_order_relaxed);
  }
}

int Worker::wait_events(epoll_event* events, int max_events) noexcept {
  Clock::time_point wake = std::min(clock_.end, next_publish_);
  if (!measuring_) wake = std::min(wake, clock_.measure_start);
  wake = std::min(wake, curl_deadline_);
  if (open_loop_ && !free_.empty()) wake = std::min(wake, arrivals_->peek());
  // A ramp up is followed at this granularity (10 ms is below any stage).
  if (staged_closed_ && !parked_.empty()) wake = std::min(wake, now_ + kStageTick);
  if (ring_size_ > 0) wake = std::min(wake, ring_ready_[ring_head_]);
  const auto ns = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now_).count());
  if (!epoll_pwait2_missing_) {
    // Nanosecond timeout: open-loop sends are not rounded up to a millisecond.
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    const int n = epoll_pwait2(epfd_, events, max_events, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    epoll_pwait2_missing_ = true;
  }
  return epoll_wait(epfd_, events, max_events, static_cast<int>((ns + 999'999) / 1'000'000));
}

void Worker::run(const RunClock& clock, const std::atomic<bool>& stop, const std::atomic<bool>& abort) {
  clock_ = clock;
  now_ = Clock::now();
  next_publish_ = now_ + kPublishEvery;
  measuring_ = now_ >= clock_.measure_start;
  if (open_loop_) {
    // Each thread runs 1/threads of the rate (ramps included). Constant
    // schedules are staggered by index/threads of an arrival, so that they
    // interleave into one evenly spaced stream of `rate` arrivals overall.
    const double share = 1.0 / threads_;
    const StageSchedule rate(plan_.load.rate,
                             std::chrono::duration_cast<StageSchedule::Nanos>(plan_.load.warmup),
                             plan_.load.stages, scenario::LoadMode::open, share);
    arrivals_.emplace(clock_.start, rate, plan_.load.arrival == scenario::Arrival::poisson,
                      plan_.seed * 0xD1B54A32D192ED03ull + static_cast<uint64_t>(index_),
                      index_ * share);
  } else {
    const uint32_t initial = staged_closed_ ? connection_target() : static_cast<uint32_t>(slots_.size());
    for (size_t i = slots_.size(); i-- > initial;) parked_.push_back(static_cast<uint32_t>(i));
    for (uint32_t i = 0; i < initial; ++i) start(slots_[i], now_);
    active_ = initial;
  }

  epoll_event events[kMaxEvents];
  int running = 0;
  for (;;) {
    const int n = wait_events(events, kMaxEvents);
    now_ = Clock::now();
    if (now_ >= clock_.end) break;
    if (stop.load(std::memory_order_relaxed) || abort.load(std::memory_order_relaxed)) {
      stopped_early_ = true;
      break;
    }
    if (!measuring_ && now_ >= clock_.measure_start) {
      recorder_.reset();  // warmup results are discarded
      measuring_ = true;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      FdState& st = fd_state(fd);
      if (!st.owned) {  // a pooled socket between transfers: see on_socket
        if (st.in_epoll) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
        st.in_epoll = false;
        continue;
      }
      const uint32_t ev = events[i].events;
      const int flags = ((ev & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                        ((ev & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                        ((ev & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(multi_, fd, flags, &running);
    }
    // Two passes: the second sends the requests that the first started
    // (curl_multi_add_handle asks for an immediate timeout) in this same turn.
    for (int pass = 0; pass < 2; ++pass) {
      if (curl_deadline_ <= now_) {
        curl_deadline_ = Clock::time_point::max();
        curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
      }
      drain_completions();
      start_due();
    }
    if (now_ >= next_publish_) {
      publish();
      next_publish_ = now_ + kPublishEvery;
    }
  }

  exit_time_ = now_;
  if (!measuring_) {
    recorder_.reset();  // ended during warmup: nothing was measured
  } else {
    // Requests that did not complete inside the measured phase: in flight,
    // and (open loop) due but never started because every slot was busy.
    uint64_t unfinished = in_flight_;
    if (open_loop_) unfinished += arrivals_->drain_before(std::min(now_, clock_.end));
    recorder_.add_unfinished(unfinished);
  }
  publish();
}

void Worker::cleanup() noexcept {
  for (Slot& slot : slots_) {
    if (slot.easy && slot.busy && multi_) curl_multi_remove_handle(multi_, slot.easy);
    slot.busy = false;
  }
  in_flight_ = 0;
  // The multi handle closes cached connections (socket callbacks need epfd_).
  if (multi_) curl_multi_cleanup(multi_);
  multi_ = nullptr;
  for (Slot& slot : slots_) {
    if (slot.easy) curl_easy_cleanup(slot.easy);
    slot.easy = nullptr;
  }
  for (curl_slist*& list : headers_) {
    curl_slist_free_all(list);
    list = nullptr;
  }
  if (epfd_ >= 0) close(epfd_);
  epfd_ = -1;
}

}  // namespace servelab::load
