#pragma once
// The generator's connection pool on top of libcurl's own connection cache
// (docs/POOL.md). libcurl already keeps, reuses, ages out and replaces
// connections: this class sets its options (CURLMOPT_MAX_HOST_CONNECTIONS,
// CURLMOPT_MAXCONNECTS, CURLOPT_MAXAGE_CONN, CURLOPT_MAXLIFETIME_CONN, HTTP/2
// multiplexing, TLS) and adds only what libcurl lacks: pre-connecting
// `min` connections before the run, periodic health checks of idle
// connections, and the pool metrics (PoolTracker, fed by the worker's
// open/close socket callbacks).
//
// One CurlPool per worker thread, used only on that thread.

#include <curl/curl.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "pool/pool_stats.h"
#include "scenario/scenario.h"

namespace servelab::pool {

// One thread's share of the scenario's [pool], [tls] and [http] settings.
struct CurlPoolSettings {
  bool pooling = true;      // toggles.pooling; off: one connection per request, no pool
  uint64_t min = 0;         // connections to pre-connect
  uint64_t max = 1;         // never more open connections than this (>= 1)
  long idle_timeout_s = 0;  // 0: libcurl's default (118 s)
  long max_age_s = 0;       // 0: unlimited
  std::chrono::microseconds health_check_interval{0};  // 0: no health checks
  std::string health_check_url;  // absolute URL of the check (and of the pre-connects)
  bool http2 = false;
  bool https = false;  // the target's scheme: h2 by ALPN instead of prior knowledge
  long streams_per_connection = 100;
  bool tls_insecure = false;
  std::string ca_file;
};

// Thread `index` of `threads`: its share of `total`, the remainder to the first threads.
uint64_t share(uint64_t total, int threads, int index) noexcept;

// The settings of thread `index`. `base_url` is the resolved target.
CurlPoolSettings thread_settings(const scenario::Scenario& s, const std::string& base_url,
                                 int connections, int threads, int index);
// Same from the pieces a load::Plan carries.
CurlPoolSettings thread_settings(const scenario::PoolConfig& pool, const scenario::TlsConfig& tls,
                                 const scenario::HttpConfig& http, bool pooling,
                                 const std::string& base_url, int connections, int threads,
                                 int index);

// Did this transfer fail to get a connection at all (connect, DNS, TLS handshake)?
bool is_connect_failure(CURLcode rc) noexcept;

// Shuts down connection socket `fd` if it is bound to local TCP port
// `local_port` (libcurl then finds that connection dead and closes it) and
// returns true; false, doing nothing, for another port. The caller offers
// its connection sockets one by one after a failed health check (one
// getsockname(2) each).
bool shutdown_connection(int fd, long local_port) noexcept;

class CurlPool {
 public:
  using Clock = std::chrono::steady_clock;
  using OpenSocketFn = curl_socket_t (*)(void*, curlsocktype, curl_sockaddr*);
  using CloseSocketFn = int (*)(void*, curl_socket_t);

  CurlPool(CurlPoolSettings settings, size_t timeline_seconds);
  ~CurlPool();
  CurlPool(const CurlPool&) = delete;
  CurlPool& operator=(const CurlPool&) = delete;

  const CurlPoolSettings& settings() const noexcept { return settings_; }
  PoolTracker& tracker() noexcept { return tracker_; }
  const PoolTracker& tracker() const noexcept { return tracker_; }

  // Sets the multi handle's pool options and makes the check handles, which
  // open and close sockets through `open`/`close` (the worker's callbacks,
  // called with `socket_data`) like request handles do.
  Status setup(CURLM* multi, OpenSocketFn open, CloseSocketFn close, void* socket_data);
  // The pool, protocol and TLS options of one request handle.
  void configure_easy(CURL* easy) const noexcept;

  // Pre-connect: starts `min` concurrent GETs of the health check URL, each
  // allowed to open a connection. Returns how many were started.
  size_t start_preconnect() noexcept;
  // Check handles in flight (pre-connect or health checks).
  size_t in_flight() const noexcept { return in_flight_; }

  // When the next round of health checks is due (Clock::time_point::max() when off).
  Clock::time_point next_check() const noexcept { return next_check_; }
  // Starts one check per idle connection (at most `idle`), each only on an
  // existing connection: a check never opens one.
  void start_checks(Clock::time_point now, uint64_t idle) noexcept;

  // Is `priv` (CURLINFO_PRIVATE of a finished transfer) one of our handles?
  bool owns(const void* priv) const noexcept;
  // A check handle finished (already removed from the multi handle).
  // Returns the local TCP port of a connection that answered the check but
  // not healthily (non-2xx), which the caller must shut down (libcurl does
  // not expose a kept connection's socket); 0 otherwise.
  long complete(CURL* easy, CURLcode rc) noexcept;
  // libcurl before 8.0.0 fails a transfer that asks for h2c prior knowledge
  // and REUSES a connection (CURLE_HTTP2, and the connection is broken for
  // every stream after it: curl issue #10634, fixed by PR #10643; Debian 12
  // ships 7.88.1). The workaround, active only with such a libcurl on http://:
  // connections are made only by the pre-connect, with prior knowledge, at
  // least ceil(max / streams_per_connection) of them; request handles ask for
  // CURL_HTTP_VERSION_2_0, which reuses an h2 connection correctly (a
  // connection it had to open itself would start with an HTTP/1.1 Upgrade).
  bool needs_h2c_reuse_fix() const noexcept { return h2c_reuse_fix_; }

  // Removes check handles still in flight (before curl_multi_cleanup).
  void remove_all() noexcept;

 private:
  struct Check {
    CURL* easy = nullptr;
    bool busy = false;
    bool preconnect = false;
  };
  static curl_socket_t on_open(void* userp, curlsocktype purpose, curl_sockaddr* addr);
  void start(Check& c, bool preconnect) noexcept;

  CurlPoolSettings settings_;
  PoolTracker tracker_;
  CURLM* multi_ = nullptr;
  OpenSocketFn open_ = nullptr;
  void* socket_data_ = nullptr;
  std::vector<Check> checks_;
  size_t in_flight_ = 0;
  bool allow_new_ = false;
  bool h2c_reuse_fix_ = false;  // check handles may open connections (pre-connect only)
  Clock::time_point next_check_ = Clock::time_point::max();
};

}  // namespace servelab::pool
