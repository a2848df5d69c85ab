#include "load/engine.h"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/resource.h>

#include <algorithm>
#include <condition_variable>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "load/curl_global.h"
#include "load/curl_transport.h"
#include "load/http_url.h"
#include "load/native_transport.h"
#include "load/recorder.h"
#include "scenario/scenario_parser.h"  // to_string(EngineKind)

namespace servelab::load {
namespace {

using namespace std::chrono_literals;

constexpr auto kProgressEvery = 500ms;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto sec = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

// The process's peak resident set so far, in KiB (Linux ru_maxrss unit).
uint64_t peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(std::max<long>(ru.ru_maxrss, 0));
}

Status validate(const scenario::LoadConfig& load, size_t requests) {
  if (requests == 0) return make_error("plan has no requests");
  if (load.connections < 1) return make_error("load.connections must be >= 1");
  if (load.threads < 1) return make_error("load.threads must be >= 1");
  if (load.duration.count() <= 0) return make_error("load.duration must be > 0");
  if (load.warmup.count() < 0) return make_error("load.warmup must be >= 0");
  if (load.timeout.count() <= 0) return make_error("load.timeout must be > 0");
  if (load.mode == scenario::LoadMode::open && !(load.rate > 0) && load.stages.empty()) {
    return make_error("open loop needs load.rate > 0");
  }
  return Ok{};
}

// Each connection is a file descriptor: raise the soft RLIMIT_NOFILE when the
// run needs more (Debian's default soft limit is 1024), or fail up front
// rather than report thousands of connect errors.
Status ensure_fd_limit(int connections) {
  constexpr rlim_t kSpare = 64;  // epoll instances, resolver pipes, stdio, logs
  const rlim_t need = static_cast<rlim_t>(connections) + kSpare;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY ||
      lim.rlim_cur >= need) {
    return Ok{};
  }
  if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < need) {
    return make_error(
        fmt::format("load.connections = {} needs about {} file descriptors, but the hard limit "
                    "(ulimit -Hn) is {}",
                    connections, need, lim.rlim_max));
  }
  lim.rlim_cur = need;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    return make_error(fmt::format("cannot raise the open-file limit to {} for {} connections", need,
                                  connections));
  }
  return Ok{};
}

// The rate shown while the run goes: completions over roughly the last
// second, from the last few progress ticks.
class RateWindow {
 public:
  double update(Clock::time_point now, uint64_t completed) {
    samples_[next_ % kSize] = {now, completed};
    ++next_;
    const Sample& oldest = next_ > kSize ? samples_[next_ % kSize] : samples_[0];
    const double dt = std::chrono::duration<double>(now - oldest.at).count();
    return dt > 0 ? static_cast<double>(completed - oldest.completed) / dt : 0;
  }
  void seed(Clock::time_point start) {
    samples_[0] = {start, 0};
    next_ = 1;
  }

 private:
  struct Sample {
    Clock::time_point at;
    uint64_t completed = 0;
  };
  // 3 samples 500 ms apart span one second.
  static constexpr size_t kSize = 3;
  Sample samples_[kSize];
  size_t next_ = 0;
};

}  // namespace

std::optional<std::string> native_unsupported(const Plan& plan) {
  // What only the libcurl engine does (docs/POOL.md, docs/SCENARIOS.md).
  if (plan.http.http2) return std::string("http.http2 = true needs engine = \"curl\"");
  const scenario::PoolConfig& p = plan.pool;
  if (plan.toggles.pooling &&
      (p.min > 0 || (p.max > 0 && p.max < scenario::peak_connections(plan.load)) ||
       p.idle_timeout.count() > 0 || p.max_age.count() > 0 ||
       p.health_check_interval.count() > 0)) {
    return std::string(
        "[pool] min, max below load.connections, idle_timeout, max_age and health_check_interval "
        "need engine = \"curl\"");
  }
  std::optional<HttpUrl> first;
  for (const PreparedRequest& r : plan.requests) {
    if (r.generate) {
      return fmt::format(
          "request '{}': kind = \"generate\" (streamed answers) needs engine = \"curl\"", r.name);
    }
    auto url = parse_http_url(r.url);
    if (!url) {
      return fmt::format(
          "request '{}': {} is not a plain http:// URL (https and others need engine = \"curl\")",
          r.name, r.url);
    }
    if (!first) {
      first = std::move(url);
    } else if (url->host != first->host || url->port != first->port) {
      return fmt::format(
          "request '{}': {} is on another host:port than {}:{} (several origins need engine = "
          "\"curl\")",
          r.name, r.url, first->host, first->port);
    }
  }
  return std::nullopt;
}

Result<scenario::EngineKind> choose_engine(const Plan& plan) {
  switch (plan.load.engine) {
    case scenario::EngineKind::curl:
      return scenario::EngineKind::curl;
    case scenario::EngineKind::native:
      if (auto why = native_unsupported(plan)) {
        return make_error(
            fmt::format("load.engine = \"native\" cannot run this scenario: {}", *why));
      }
      return scenario::EngineKind::native;
    case scenario::EngineKind::auto_:
      break;
  }
  return native_unsupported(plan) ? scenario::EngineKind::curl : scenario::EngineKind::native;
}

Result<RunStats> run(const Plan& plan, const std::atomic<bool>& stop, const ProgressFn& progress) {
  if (auto st = validate(plan.load, plan.requests.size()); !st) return st.error();
  if (plan.cumulative_weights.size() != plan.requests.size()) {
    return make_error("plan.cumulative_weights does not match plan.requests");
  }
  if (!ensure_curl_global_init()) return make_error("libcurl failed to initialize");
  const scenario::LoadConfig& load = plan.load;
  // Closed loop with stages: slots for the largest target, parked until needed.
  const int connections = scenario::peak_connections(load);
  if (auto st = ensure_fd_limit(connections); !st) return st.error();

  // A thread without a connection would have nothing to do.
  const int threads = std::min(load.threads, connections);
  auto slots = std::make_unique<ProgressSlot[]>(static_cast<size_t>(threads));
  auto engine = choose_engine(plan);
  if (!engine) return engine.error();
  std::vector<std::unique_ptr<LoopCore>> workers;
  for (int i = 0; i < threads; ++i) {
    // Connections split evenly, the remainder to the first threads.
    const int conns = connections / threads + (i < connections % threads ? 1 : 0);
    ProgressSlot& slot = slots[static_cast<size_t>(i)];
    if (*engine == scenario::EngineKind::native) {
      workers.push_back(std::make_unique<NativeTransport>(plan, i, threads, conns, slot));
    } else {
      workers.push_back(std::make_unique<CurlTransport>(plan, i, threads, conns, slot));
    }
  }

  std::latch ready(threads);
  std::latch go(1);
  RunClock clock;
  std::atomic<bool> abort{false};
  std::vector<Status> setup(static_cast<size_t>(threads), Status(Ok{}));
  std::mutex mu;
  std::condition_variable cv;
  int running = threads;

  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      // Named for top/perf: "load-0", "load-1", ...
      pthread_setname_np(pthread_self(), fmt::format("load-{}", i).c_str());
      LoopCore& w = *workers[static_cast<size_t>(i)];
      Status st = w.setup();
      const bool ok = st.ok();
      setup[static_cast<size_t>(i)] = std::move(st);
      ready.count_down();
      go.wait();  // `clock` is set before the release
      if (ok) w.run(clock, stop, abort);
      {
        std::lock_guard lk(mu);
        --running;
      }
      cv.notify_all();
      w.cleanup();  // on the thread that used the handles, after the loop ended
    });
  }

  ready.wait();
  for (const Status& st : setup) {
    if (!st) abort.store(true);
  }
  clock.start = Clock::now();
  clock.measure_start = clock.start + load.warmup;
  clock.end = clock.measure_start + load.duration;
  double cpu_start = 0;
  bool cpu_started = false;
  if (load.warmup.count() == 0) {
    cpu_start = cpu_seconds();
    cpu_started = true;
  }
  go.count_down();

  RateWindow window;
  window.seed(clock.start);
  auto next_tick = clock.start + kProgressEvery;
  {
    std::unique_lock lk(mu);
    while (running > 0) {
      auto wake = next_tick;
      if (!cpu_started) wake = std::min(wake, clock.measure_start);
      cv.wait_until(lk, wake, [&] { return running == 0; });
      if (running == 0) break;
      const auto now = Clock::now();
      if (!cpu_started && now >= clock.measure_start) {
        cpu_start = cpu_seconds();
        cpu_started = true;
      }
      if (now >= next_tick) {
        next_tick += kProgressEvery;
        if (!progress) continue;
        Progress p;
        p.in_warmup = now < clock.measure_start;
        p.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
            now - (p.in_warmup ? clock.start : clock.measure_start));
        uint64_t completed = 0;
        for (int i = 0; i < threads; ++i) {
          const ProgressSlot& s = slots[static_cast<size_t>(i)];
          completed += s.completed.load(std::memory_order_relaxed);
          p.requests += s.requests.load(std::memory_order_relaxed);
          p.errors += s.errors.load(std::memory_order_relaxed);
          // The max over threads: an upper bound of the merged p99.
          if (!p.in_warmup) p.p99_us = std::max(p.p99_us, s.p99_us.load(std::memory_order_relaxed));
        }
        p.rps = window.update(now, completed);
        lk.unlock();
        progress(p);
        lk.lock();
      }
    }
  }
  // Workers have left their loops (their cleanup is not client load).
  const double cpu_end = cpu_seconds();
  for (std::thread& t : pool) t.join();

  for (const Status& st : setup) {
    if (!st) return st.error();
  }

  Clock::time_point last_exit = clock.start;
  bool partial = false;
  std::vector<const Recorder*> recorders;
  for (const auto& w : workers) {
    last_exit = std::max(last_exit, w->exit_time());
    partial = partial || w->stopped_early();
    recorders.push_back(&w->recorder());
  }
  const auto measured = std::clamp(
      std::chrono::duration_cast<std::chrono::microseconds>(last_exit - clock.measure_start),
      std::chrono::microseconds(0), load.duration);

  std::vector<std::string> names;
  for (const PreparedRequest& r : plan.requests) names.push_back(r.name);
  auto stats = Recorder::merge(recorders, names, measured);
  if (!stats) return stats.error();
  stats->partial = partial;
  stats->threads = threads;
  stats->engine = std::string(scenario::to_string(*engine));
  stats->connections = connections;
  stats->client_cpu_seconds = cpu_started ? std::max(0.0, cpu_end - cpu_start) : 0.0;
  for (const auto& w : workers) stats->pool.add(w->pool_stats());
  stats->client_peak_rss_kb = peak_rss_kb();
  return stats;
}

}  // namespace servelab::load
