#include "serve/model_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <iterator>
#include <string_view>

namespace servelab::serve {

namespace {

constexpr std::array<models::ModelState, 5> kStates = {
    models::ModelState::unloaded, models::ModelState::loading, models::ModelState::ready,
    models::ModelState::failed, models::ModelState::unloading};
// Quantiles of the load time summary (the manager keeps an HDR histogram,
// which answers quantiles exactly to 3 significant digits).
constexpr std::array<double, 5> kQuantiles = {0.5, 0.9, 0.99, 0.999, 1.0};

}  // namespace

void render_model_manager(std::string& out, const std::vector<models::ModelStatus>& statuses,
                          const models::ManagerStats& stats, const std::vector<std::string>& labels,
                          bool async, uint64_t waits) {
  auto it = std::back_inserter(out);
  auto header = [&](std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(it, "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  auto scalar = [&](std::string_view name, std::string_view type, std::string_view help,
                    auto value) {
    header(name, type, help);
    fmt::format_to(it, "{} {}\n", name, value);
  };
  const size_t n = std::min(statuses.size(), labels.size());

  header("servelab_model_state", "gauge",
         "1 for the model's current state (unloaded, loading, ready, failed, unloading), 0 for the "
         "others.");
  for (size_t m = 0; m < n; ++m) {
    for (models::ModelState s : kStates) {
      fmt::format_to(it, "servelab_model_state{{model=\"{}\",state=\"{}\"}} {}\n", labels[m],
                     models::to_string(s), statuses[m].state == s ? 1 : 0);
    }
  }
  header("servelab_model_memory_bytes", "gauge", "Bytes of weights the model holds in memory now.");
  for (size_t m = 0; m < n; ++m) {
    fmt::format_to(it, "servelab_model_memory_bytes{{model=\"{}\"}} {}\n", labels[m],
                   statuses[m].memory_bytes);
  }
  header("servelab_model_leases", "gauge",
         "Requests holding the model now (it cannot be evicted while > 0).");
  for (size_t m = 0; m < n; ++m) {
    fmt::format_to(it, "servelab_model_leases{{model=\"{}\"}} {}\n", labels[m], statuses[m].in_use);
  }

  scalar("servelab_model_async_loading", "gauge",
         "1 when models load in the background (async_loading on), 0 when a request loads its "
         "model inline.",
         async ? 1 : 0);
  scalar("servelab_model_loads_total", "counter", "Model loads completed successfully.",
         stats.loads);
  scalar("servelab_model_load_failures_total", "counter",
         "Model loads that failed (bad file, checksum mismatch, too large, timeout).",
         stats.load_failures);
  scalar("servelab_model_load_timeouts_total", "counter",
         "Model loads that passed their load_timeout.", stats.load_timeouts);
  scalar("servelab_model_load_cancelled_total", "counter",
         "Queued model loads cancelled (shutdown, unload).", stats.load_cancelled);
  scalar("servelab_model_evictions_total", "counter",
         "Models evicted to stay within the memory budget.", stats.evictions);
  scalar("servelab_model_unloads_total", "counter", "Models unloaded through the repository API.",
         stats.unloads);
  scalar("servelab_model_cache_hits_total", "counter", "Requests that found their model ready.",
         stats.cache_hits);
  scalar("servelab_model_cache_misses_total", "counter",
         "Requests that had to wait for (or, sync mode, perform) their model's load.",
         stats.cache_misses);
  scalar("servelab_model_waited_requests_total", "counter",
         "Requests answered after waiting for a background load (async mode).", waits);
  scalar("servelab_model_wait_timeouts_total", "counter",
         "Requests whose wait for their model passed its deadline (503).", stats.wait_timeouts);
  scalar("servelab_model_preloads_total", "counter",
         "Loads started by eager preload or prediction.", stats.preloads);
  scalar("servelab_model_preload_hits_total", "counter",
         "Preloaded models whose first request found them ready.", stats.preload_hits);
  scalar("servelab_model_preload_hit_ratio", "gauge",
         "preload_hits / preloads (0 before any preload).",
         stats.preloads > 0
             ? static_cast<double>(stats.preload_hits) / static_cast<double>(stats.preloads)
             : 0.0);
  scalar("servelab_model_load_queue_depth", "gauge", "Model loads queued, not yet running.",
         stats.queue_depth);
  scalar("servelab_model_loads_running", "gauge", "Model loads running now.", stats.loading);
  scalar("servelab_model_memory_in_use_bytes", "gauge",
         "Bytes of weights in memory (ready models and reservations of running loads).",
         stats.memory_in_use);
  scalar("servelab_model_memory_budget_bytes", "gauge", "The memory budget in bytes; 0: unlimited.",
         stats.memory_budget);

  const measure::Histogram& h = stats.load_time_us;
  header("servelab_model_load_duration_seconds", "summary", "Time of each successful model load.");
  for (double q : kQuantiles) {
    // value_at_percentile() is a bucket's upper edge: never above the exact max.
    const int64_t us = h.count() == 0 ? 0
                       : q >= 1.0     ? h.max()
                                      : std::min(h.max(), h.value_at_percentile(q * 100.0));
    fmt::format_to(it, "servelab_model_load_duration_seconds{{quantile=\"{}\"}} {}\n", q,
                   static_cast<double>(us) / 1e6);
  }
  fmt::format_to(it, "servelab_model_load_duration_seconds_sum {}\n",
                 h.mean() * static_cast<double>(h.count()) / 1e6);
  fmt::format_to(it, "servelab_model_load_duration_seconds_count {}\n", h.count());
}

}  // namespace servelab::serve
