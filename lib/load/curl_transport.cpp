#include "load/curl_transport.h"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/headers.h"
#include "load/generate_tracker.h"

namespace servelab::load {
namespace {

// The body is never looked at: byte counts come from CURLINFO_SIZE_DOWNLOAD_T.
size_t discard_body(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

CurlTransport::CurlTransport(const Plan& plan, int index, int threads, int slots,
                             ProgressSlot& progress)
    : LoopCore(plan, index, threads, slots, progress),
      slots_(static_cast<size_t>(slots)),
      prompt_rng_(plan.seed * 0xBF58476D1CE4E5B9ull + static_cast<uint64_t>(index) + 1),
      pool_(
          pool::thread_settings(plan.pool, plan.tls, plan.http, plan.toggles.pooling, plan.base_url,
                                scenario::peak_connections(plan.load), threads, index),
          timeline_seconds(plan.load)) {}

CurlTransport::~CurlTransport() { cleanup_transport(); }

Status CurlTransport::setup_transport() {
  fds_.resize(1024);
  multi_ = curl_multi_init();
  if (!multi_) return make_error("curl_multi_init failed");
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlTransport::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlTransport::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  // Pool limits (CURLMOPT_MAX_HOST_CONNECTIONS, CURLMOPT_MAXCONNECTS), HTTP/2
  // multiplexing and the pool's own check handles: lib/pool/curl_pool.h.
  if (auto st = pool_.setup(multi_, &CurlTransport::on_open_socket, &CurlTransport::on_close_socket,
                            this);
      !st) {
    return st;
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
    if (!has_header_line(r.headers, "Expect")) ok = ok && append("Expect:");
    if (!plan_.toggles.pooling && !has_header_line(r.headers, "Connection")) {
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
    mutable_recorder().generate().enabled = true;
    constexpr size_t kMaxGaps = 1u
                                << 16;  // 256 KB per slot at most; beyond: counted as itl_dropped
    trackers_.reserve(slots_.size());
    for (size_t i = 0; i < slots_.size(); ++i)
      trackers_.push_back(std::make_unique<GenerateTracker>(std::min(max_gaps, kMaxGaps)));
  }

  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    slot.transport = this;
    if (!trackers_.empty()) slot.gen = trackers_[i].get();
    slot.easy = curl_easy_init();
    if (!slot.easy) return make_error("curl_easy_init failed");
    CURL* e = slot.easy;
    // The slot index travels as the private pointer.
    curl_easy_setopt(e, CURLOPT_PRIVATE, reinterpret_cast<void*>(i));
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlTransport::on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CurlTransport::on_close_socket);
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
    pool_.configure_easy(e);  // idle/age limits, HTTP/2, TLS
    configure(slot, 0);
  }
  preconnect();
  return Ok{};
}

// Points the easy handle at request `mix`. Only called when a slot switches
// request kind, so a one-entry mix never resets options per request.
void CurlTransport::configure(Slot& slot, uint32_t mix) noexcept {
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
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CurlTransport::on_generate_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &slot);
  } else {
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &discard_body);
  }
  slot.mix = mix;
}

CurlTransport::FdState& CurlTransport::fd_state(int fd) {
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
int CurlTransport::on_socket(CURL*, curl_socket_t s, int what, void* userp, void*) {
  auto* self = static_cast<CurlTransport*>(userp);
  FdState& st = self->fd_state(s);
  if (what == CURL_POLL_REMOVE) {
    st.owned = false;
    if (!st.lazy && st.in_epoll) {
      epoll_ctl(self->epfd(), EPOLL_CTL_DEL, s, nullptr);  // may already be closed: harmless
      st.in_epoll = false;
    }
    return 0;
  }
  st.owned = true;
  const uint32_t want =
      ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  if (st.in_epoll && st.events == want) return 0;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = s;
  if (!st.in_epoll) {
    if (epoll_ctl(self->epfd(), EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST) {
      epoll_ctl(self->epfd(), EPOLL_CTL_MOD, s, &ev);
    }
  } else if (epoll_ctl(self->epfd(), EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT) {
    epoll_ctl(self->epfd(), EPOLL_CTL_ADD, s, &ev);
  }
  st.in_epoll = true;
  st.events = want;
  return 0;
}

curl_socket_t CurlTransport::on_open_socket(void* userp, curlsocktype purpose,
                                            curl_sockaddr* addr) {
  const int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd < 0) return CURL_SOCKET_BAD;
  auto* self = static_cast<CurlTransport*>(userp);
  FdState& st = self->fd_state(fd);
  st = FdState{};
  st.lazy = purpose == CURLSOCKTYPE_IPCXN;
  if (st.lazy) self->pool_.tracker().opened(self->now());
  return fd;
}

int CurlTransport::on_close_socket(void* userp, curl_socket_t s) {
  auto* self = static_cast<CurlTransport*>(userp);
  FdState& st = self->fd_state(s);
  if (st.lazy) self->pool_.tracker().closed(self->now());
  st = FdState{};  // close(2) takes it out of the epoll set
  return close(s);
}

int CurlTransport::on_timer(CURLM*, long timeout_ms, void* userp) {
  auto* self = static_cast<CurlTransport*>(userp);
  // Relative to the loop's clock: a timer callback does not read the clock.
  self->curl_deadline_ = timeout_ms < 0 ? Clock::time_point::max()
                                        : self->now() + std::chrono::milliseconds(timeout_ms);
  return 0;
}

size_t CurlTransport::on_generate_body(char* data, size_t size, size_t n, void* userp) {
  auto* slot = static_cast<Slot*>(userp);
  // Each write callback gets its own time: SSE events read in one loop
  // turn (one per connection) must not share the turn's time (zero ITL).
  slot->gen->on_body(std::string_view(data, size * n), event_time());
  return size * n;
}

void CurlTransport::begin(uint32_t idx, uint32_t mix, long timeout_ms) noexcept {
  Slot& slot = slots_[idx];
  if (slot.mix != mix) configure(slot, mix);
  if (timeout_ms != slot.timeout_ms) {
    curl_easy_setopt(slot.easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    slot.timeout_ms = timeout_ms;
  }
  if (const PreparedRequest& r = plan_.requests[mix]; r.generate) {
    if (r.bodies.size() > 1) {
      // A prompt drawn per request; the prepared strings outlive the run (no copy).
      const std::string& body =
          r.bodies[static_cast<size_t>(splitmix64(prompt_rng_) % r.bodies.size())];
      curl_easy_setopt(slot.easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(body.size()));
      curl_easy_setopt(slot.easy, CURLOPT_POSTFIELDS, body.data());
    }
    slot.gen->begin(intended(idx));
  }
  curl_multi_add_handle(multi_, slot.easy);
}

void CurlTransport::on_event(const epoll_event& event) noexcept {
  const int fd = event.data.fd;
  FdState& st = fd_state(fd);
  if (!st.owned) {  // a pooled socket between transfers: see on_socket
    if (st.in_epoll) epoll_ctl(epfd(), EPOLL_CTL_DEL, fd, nullptr);
    st.in_epoll = false;
    return;
  }
  const uint32_t ev = event.events;
  const int flags = ((ev & EPOLLIN) ? CURL_CSELECT_IN : 0) |
                    ((ev & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
                    ((ev & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);
  int running = 0;
  curl_multi_socket_action(multi_, fd, flags, &running);
  // Transfers this socket finished are reported now, timed now, not after
  // every other event of the turn (curl_multi_info_read is a list pop).
  drain_completions();
}

void CurlTransport::on_turn() noexcept {
  if (curl_deadline_ <= now()) {
    curl_deadline_ = Clock::time_point::max();
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  }
  drain_completions();
  // Pool health checks: one per idle connection, each interval.
  if (now() >= pool_.next_check()) pool_.start_checks(now(), idle_connections());
}

uint64_t CurlTransport::idle_connections() const noexcept {
  const uint64_t busy_now = in_flight() + pool_.in_flight();
  const uint64_t open = pool_.tracker().size();
  return open > busy_now ? open - busy_now : 0;
}

void CurlTransport::preconnect() noexcept {
  if (pool_.start_preconnect() == 0) return;
  // Before the run: the same dispatch as the loop's, until every
  // pre-connect finished or load.timeout passed.
  tick();
  const Clock::time_point deadline = now() + plan_.load.timeout;
  constexpr int kMaxEvents = 64;
  epoll_event events[kMaxEvents];
  int running = 0;
  curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  for (int turn = 0; pool_.in_flight() > 0 && turn < 1'000'000; ++turn) {
    tick();
    if (now() >= deadline) break;
    const auto wait =
        std::chrono::ceil<std::chrono::milliseconds>(std::min(deadline, curl_deadline_) - now());
    const int n = epoll_wait(epfd(), events, kMaxEvents,
                             static_cast<int>(std::max<int64_t>(wait.count(), 0)));
    tick();
    for (int i = 0; i < n; ++i) on_event(events[i]);
    if (curl_deadline_ <= now()) {
      curl_deadline_ = Clock::time_point::max();
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    drain_completions();
  }
  pool_.remove_all();  // those still connecting at the deadline are abandoned
  pool_.tracker().preconnect_done();
}

void CurlTransport::drain_completions() noexcept {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* e = msg->easy_handle;
    const CURLcode rc = msg->data.result;  // msg is invalid after remove_handle
    char* priv = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    curl_multi_remove_handle(multi_, e);
    if (pool_.owns(priv)) {
      // A pre-connect or health check, not a request. A connection that
      // failed its check is shut down (rare: the scan asks the kernel per socket).
      if (const long port = pool_.complete(e, rc); port > 0) {
        for (size_t fd = 0; fd < fds_.size(); ++fd) {
          if (fds_[fd].lazy && pool::shutdown_connection(static_cast<int>(fd), port)) break;
        }
      }
      continue;
    }
    complete(static_cast<uint32_t>(reinterpret_cast<uintptr_t>(priv)), rc);
  }
}

void CurlTransport::complete(uint32_t idx, CURLcode rc) noexcept {
  CURL* e = slots_[idx].easy;
  long status = 0, header_bytes = 0, request_bytes = 0, connects = 0;
  curl_off_t body_in = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_SIZE_DOWNLOAD_T, &body_in);
  curl_easy_getinfo(e, CURLINFO_HEADER_SIZE, &header_bytes);
  curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &request_bytes);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);

  const Clock::time_point at = event_time();
  Sample s;
  s.status = static_cast<int>(status);
  s.failed = classify(rc, s.status, &s.error);
  s.bytes_in = static_cast<uint64_t>(std::max<curl_off_t>(body_in, 0)) +
               static_cast<uint64_t>(std::max(header_bytes, 0L));
  // CURLINFO_REQUEST_SIZE counts what was sent: request line, headers and
  // the POSTFIELDS body.
  s.bytes_out = static_cast<uint64_t>(std::max(request_bytes, 0L));
  s.connects = static_cast<uint32_t>(std::max(connects, 0L));
  if (const Slot& slot = slots_[idx]; plan_.requests[slot.mix].generate) {
    const GenerateOutcome g = slot.gen->finish(at, !s.failed && s.status != 0);
    if (g.failed && !s.failed) {
      s.failed = true;  // a broken answer (no [DONE], bad event): a protocol error
      s.error = ErrorClass::protocol;
    }
    record_outcome(mutable_recorder().generate(), g, s.failed);
  }
  finish(idx, s, pool::is_connect_failure(rc), at);
}

void CurlTransport::cleanup_transport() noexcept {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].easy && busy(static_cast<uint32_t>(i)) && multi_)
      curl_multi_remove_handle(multi_, slots_[i].easy);
  }
  pool_.remove_all();
  // The multi handle closes cached connections (socket callbacks need epfd()).
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
}

}  // namespace servelab::load
