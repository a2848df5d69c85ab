#pragma once
// The native transport of a load-generator worker thread (engine = "native"):
// non-blocking HTTP/1.1 connections on the LoopCore's epoll loop (edge-
// triggered, registered once per connection), requests serialized once per
// mix entry before the run, responses parsed by a Beast basic_parser that
// stores nothing and only counts. Per request: one send(2), usually one
// recv(2) (two when the response does not fit in one read), no allocation.
// What it cannot do (https, several origins, generate requests, most of
// [pool]) is refused by the engine's choice (native_unsupported() in
// engine.h) before the run; libcurl does those.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "load/loop_core.h"

namespace servelab::load {

class NativeTransport final : public LoopCore {
 public:
  NativeTransport(const Plan& plan, int index, int threads, int slots, ProgressSlot& progress);
  ~NativeTransport() override;

 protected:
  // Serializes the requests, resolves their origin, allocates every
  // connection's buffers. REQUIRES: native_unsupported(plan) found nothing
  // (every URL is plain http:// on one host:port).
  Status setup_transport() override;
  // Closes every connection.
  void cleanup_transport() noexcept override;
  void begin(uint32_t slot, uint32_t mix, long timeout_ms) noexcept override;
  void on_event(const ::epoll_event& ev) noexcept override;
  void on_turn() noexcept override;
  Clock::time_point next_deadline() const noexcept override { return scan_at_; }
  // Connections only (pool.min/max_age/idle_timeout/health checks need
  // engine = "curl": the engine's choice says so).
  pool::PoolTracker& pool_tracker() noexcept override { return tracker_; }

 private:
  struct Conn;
  class Parser;

  bool connect(Conn& c) noexcept;       // false: failed at once (c.err set)
  void send_request(Conn& c) noexcept;  // writes what is left of the request
  // Reads and parses until the socket is drained or the response done.
  // `peer_closed`: the event said the peer shut down (read to the end).
  void receive(Conn& c, bool peer_closed) noexcept;
  void close_conn(Conn& c) noexcept;
  void reset_parser(Conn& c) noexcept;  // a fresh parser for c.mix's response
  // Ends the transfer on `c`: a response (error_class < 0) or an error.
  void done(Conn& c, int error_class) noexcept;
  // A reused connection that the server had closed before it sent a byte
  // of our request's answer: open a fresh one and resend (as libcurl does).
  bool retry_fresh(Conn& c) noexcept;
  void expire() noexcept;

  std::vector<Conn> conns_;
  // Slots whose connect failed inside begin(), reported by on_turn (two
  // lists, swapped: reporting one can refill the other). Preallocated.
  std::vector<uint32_t> failed_, failed_now_;
  std::vector<std::string> wire_;  // serialized request per mix entry
  std::vector<uint8_t> head_;      // per mix entry: a HEAD request (no response body)
  sockaddr_storage addr_{};
  socklen_t addr_len_ = 0;
  // Timeouts: the earliest deadline of a busy connection, found by a scan
  // of all connections only when it is reached (a fast run scans about once
  // per load.timeout); begin() lowers it when a new deadline is earlier.
  Clock::time_point scan_at_ = Clock::time_point::max();
  pool::PoolTracker tracker_;
};

}  // namespace servelab::load
