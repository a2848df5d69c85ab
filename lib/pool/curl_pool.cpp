#include "pool/curl_pool.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <functional>
#include <utility>

namespace servelab::pool {
namespace {

// Whole seconds, rounded up: libcurl's pool limits count seconds.
long whole_seconds(std::chrono::microseconds d) {
  return static_cast<long>((d.count() + 999'999) / 1'000'000);
}

}  // namespace

uint64_t share(uint64_t total, int threads, int index) noexcept {
  const auto t = static_cast<uint64_t>(std::max(threads, 1));
  return total / t + (static_cast<uint64_t>(index) < total % t ? 1 : 0);
}

CurlPoolSettings thread_settings(const scenario::PoolConfig& pool, const scenario::TlsConfig& tls,
                                 const scenario::HttpConfig& http, bool pooling,
                                 const std::string& base_url, int connections, int threads,
                                 int index) {
  CurlPoolSettings s;
  s.pooling = pooling;
  const uint64_t max_total = static_cast<uint64_t>(pool.max > 0 ? pool.max : connections);
  s.max = std::max<uint64_t>(1, share(max_total, threads, index));
  s.min = std::min(s.max, share(static_cast<uint64_t>(std::max(pool.min, 0)), threads, index));
  s.idle_timeout_s = whole_seconds(pool.idle_timeout);
  s.max_age_s = whole_seconds(pool.max_age);
  s.health_check_interval = pool.health_check_interval;
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  s.health_check_url = base + pool.health_check_path;
  s.http2 = http.http2;
  s.https = base_url.rfind("https://", 0) == 0;
  s.streams_per_connection = http.streams_per_connection;
  s.tls_insecure = tls.insecure;
  s.ca_file = tls.ca_file;
  return s;
}

CurlPoolSettings thread_settings(const scenario::Scenario& sc, const std::string& base_url,
                                 int connections, int threads, int index) {
  return thread_settings(sc.pool, sc.tls, sc.http, sc.toggles.pooling, base_url, connections,
                         threads, index);
}

bool is_connect_failure(CURLcode rc) noexcept {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return true;
    default:
      return false;
  }
}

CurlPool::CurlPool(CurlPoolSettings settings, size_t timeline_seconds)
    : settings_(std::move(settings)), tracker_(timeline_seconds) {
  tracker_.set_max(settings_.max);
  constexpr unsigned kCurl8 = 0x080000;  // CURLVERSION_NOW's version_num layout
  h2c_reuse_fix_ = settings_.http2 && !settings_.https && settings_.pooling &&
                   curl_version_info(CURLVERSION_NOW)->version_num < kCurl8;
  if (h2c_reuse_fix_) {
    const uint64_t streams = static_cast<uint64_t>(std::max(settings_.streams_per_connection, 1L));
    settings_.min =
        std::min(settings_.max, std::max(settings_.min, (settings_.max + streams - 1) / streams));
  }
}

CurlPool::~CurlPool() {
  remove_all();
  for (Check& c : checks_) {
    if (c.easy) curl_easy_cleanup(c.easy);
    c.easy = nullptr;
  }
}

Status CurlPool::setup(CURLM* multi, OpenSocketFn open, CloseSocketFn close, void* socket_data) {
  multi_ = multi;
  open_ = open;
  socket_data_ = socket_data;
  const auto max = static_cast<long>(settings_.max);
  // The cache holds at most `max` idle connections, and libcurl opens at most
  // `max` to the target: transfers beyond that wait for a free connection
  // (growth on demand up to max, never past it).
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max);
  if (settings_.pooling) curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max);
  if (settings_.http2) {
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, settings_.streams_per_connection);
  }
  if (!settings_.pooling) return Ok{};
  const bool checks = settings_.health_check_interval.count() > 0;
  // One check handle per connection this thread may hold (checks), or per
  // pre-connect; none when neither is wanted.
  const uint64_t handles = checks ? settings_.max : settings_.min;
  checks_.resize(handles);
  for (Check& c : checks_) {
    c.easy = curl_easy_init();
    if (!c.easy) return make_error("curl_easy_init failed");
    CURL* e = c.easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, &c);
    curl_easy_setopt(e, CURLOPT_URL, settings_.health_check_url.c_str());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlPool::on_open);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, socket_data);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(
        e, CURLOPT_WRITEFUNCTION,
        +[](char*, size_t size, size_t n, void*) -> size_t { return size * n; });
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    // A check answers fast or the connection is not healthy.
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5'000L);
    configure_easy(e);
    // Pre-connects make the h2c connections with prior knowledge (see needs_h2c_reuse_fix).
    if (h2c_reuse_fix_) {
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                       static_cast<long>(CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
    }
  }
  if (checks) next_check_ = Clock::now() + settings_.health_check_interval;
  return Ok{};
}

void CurlPool::configure_easy(CURL* e) const noexcept {
  if (settings_.pooling) {
    // libcurl reuses a connection idle for at most N whole seconds (it
    // compares truncated seconds with '>'): N-1 makes "idle >= N s" expire.
    if (settings_.idle_timeout_s > 0)
      curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, settings_.idle_timeout_s - 1);
    // Same comparison, but 0 means "unlimited" here: 1 s acts as 2 s.
    if (settings_.max_age_s > 0) {
      curl_easy_setopt(e, CURLOPT_MAXLIFETIME_CONN, std::max(1L, settings_.max_age_s - 1));
    }
  }
  if (settings_.http2) {
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     static_cast<long>(settings_.https  ? CURL_HTTP_VERSION_2TLS
                                       : h2c_reuse_fix_ ? CURL_HTTP_VERSION_2_0
                                                        : CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE));
    // Wait for a connection that can multiplex rather than open another.
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  }
  if (settings_.tls_insecure) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!settings_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, settings_.ca_file.c_str());
}

curl_socket_t CurlPool::on_open(void* userp, curlsocktype purpose, curl_sockaddr* addr) {
  auto* self = static_cast<CurlPool*>(userp);
  // A health check must test an existing connection, never make one: libcurl
  // then fails it with CURLE_COULDNT_CONNECT, which complete() ignores.
  if (!self->allow_new_ && purpose == CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
  return self->open_(self->socket_data_, purpose, addr);
}

void CurlPool::start(Check& c, bool preconnect) noexcept {
  c.busy = true;
  c.preconnect = preconnect;
  ++in_flight_;
  curl_multi_add_handle(multi_, c.easy);
}

size_t CurlPool::start_preconnect() noexcept {
  if (!settings_.pooling) return 0;
  const size_t n = std::min<size_t>(settings_.min, checks_.size());
  allow_new_ = true;  // until the pre-connects end (complete())
  // FRESH_CONNECT: each pre-connect opens its own connection even when an
  // HTTP/2 one could carry them all.
  for (size_t i = 0; i < n; ++i) {
    curl_easy_setopt(checks_[i].easy, CURLOPT_FRESH_CONNECT, 1L);
    start(checks_[i], true);
  }
  if (n == 0) allow_new_ = false;
  return n;
}

void CurlPool::start_checks(Clock::time_point now, uint64_t idle) noexcept {
  next_check_ = now + std::chrono::duration_cast<Clock::duration>(settings_.health_check_interval);
  for (Check& c : checks_) {
    if (idle == 0) break;
    if (c.busy) continue;
    start(c, false);
    --idle;
  }
}

bool CurlPool::owns(const void* priv) const noexcept {
  if (checks_.empty()) return false;
  const auto* p = static_cast<const Check*>(priv);
  return std::less_equal<const Check*>()(checks_.data(), p) &&
         std::less<const Check*>()(p, checks_.data() + checks_.size());
}

long CurlPool::complete(CURL* e, CURLcode rc) noexcept {
  char* priv = nullptr;
  curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
  Check& c = *static_cast<Check*>(static_cast<void*>(priv));
  c.busy = false;
  --in_flight_;
  if (c.preconnect) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 0L);
    // From now on this handle checks existing connections: it must not ask
    // for prior knowledge on reuse (see needs_h2c_reuse_fix).
    if (h2c_reuse_fix_)
      curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2_0));
    if (in_flight_ == 0) {
      allow_new_ = false;
      tracker_.preconnect_done();
    }
    return 0;
  }
  long status = 0, connects = 0;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
  if (rc == CURLE_COULDNT_CONNECT && connects == 0) return 0;  // no idle connection to check
  if (rc != CURLE_OK) {
    tracker_.health_check(false);  // libcurl closed the failed connection
    return 0;
  }
  if (status >= 200 && status < 300) {
    tracker_.health_check(true);
    return 0;
  }
  tracker_.health_check(false);
  // The connection answered but not healthily: the caller shuts it down, so
  // that libcurl's liveness check finds it dead and closes it instead of
  // reusing it.
  long port = 0;
  if (curl_easy_getinfo(e, CURLINFO_LOCAL_PORT, &port) != CURLE_OK) return 0;
  return port;
}

bool shutdown_connection(int fd, long local_port) noexcept {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  uint16_t port = 0;
  if (addr.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  if (port != local_port) return false;
  shutdown(fd, SHUT_RDWR);
  return true;
}

void CurlPool::remove_all() noexcept {
  for (Check& c : checks_) {
    if (c.busy && multi_) curl_multi_remove_handle(multi_, c.easy);
    if (c.preconnect && c.easy) curl_easy_setopt(c.easy, CURLOPT_FRESH_CONNECT, 0L);
    c.busy = false;
    c.preconnect = false;
  }
  in_flight_ = 0;
  allow_new_ = false;
}

}  // namespace servelab::pool
