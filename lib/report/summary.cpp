#include "report/summary.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/duration.h"
#include "common/toggles.h"
#include "report/generate_report.h"
#include "scenario/scenario_parser.h"

namespace servelab::report {
namespace {

std::string ms(int64_t us) { return fmt::format("{:.3f}", static_cast<double>(us) / 1000.0); }

}  // namespace

std::string toggles_label(const scenario::Toggles& t) {
  std::string out;
  for (const ToggleInfo& info : kToggles) {
    if (!(t.*info.field)) continue;
    if (!out.empty()) out += '+';
    out += info.name;
  }
  return out.empty() ? "all-off" : out;
}

std::string conditions_line(const RunRecord& r) {
  const auto& l = r.scenario.load;
  std::string load = fmt::format("mode={} connections={} threads={}", scenario::to_string(l.mode),
                                 l.connections, l.threads);
  if (l.mode == scenario::LoadMode::open)
    load += fmt::format(" rate={}/s arrival={}", l.rate, scenario::to_string(l.arrival));
  // A staged run ramps from the base value above through each stage's target.
  if (!l.stages.empty()) {
    load += " stages=";
    for (size_t i = 0; i < l.stages.size(); ++i) {
      const auto& st = l.stages[i];
      if (i) load += ',';
      load += l.mode == scenario::LoadMode::open ? fmt::format("{}/s", st.rate)
                                                 : fmt::format("{}conn", st.connections);
      load += fmt::format("@{}", format_duration(st.duration));
    }
  }
  return fmt::format("{} duration={} warmup={} toggles={} target={} | {} cores, {}", load,
                     format_duration(l.duration), format_duration(l.warmup),
                     toggles_label(r.scenario.toggles), r.server.url, r.environment.cores,
                     r.environment.cpu_model);
}

std::string latency_spectrum_text(const RunRecord& r) {
  const bool open = r.scenario.load.mode == scenario::LoadMode::open;
  std::string out;
  auto spectrum = [&](const char* title, const measure::Histogram& h) {
    out += fmt::format("  Latency Distribution ({}, {} requests)\n", title, h.count());
    for (double q : {50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0})
      out += fmt::format("  {:>8.3f}%  {:>10} ms\n", q,
                         ms(std::min(h.max(), h.value_at_percentile(q))));
  };
  if (open) {
    spectrum("from the intended send time, coordinated omission corrected", r.stats.latency);
    spectrum("from the actual send time, uncorrected", r.stats.uncorrected);
  } else {
    spectrum("closed loop", r.stats.latency);
  }
  return out;
}

std::string summary_text(const RunRecord& r) {
  const auto& st = r.stats;
  const auto& c = st.counters;
  const bool open = r.scenario.load.mode == scenario::LoadMode::open;
  std::string out;
  out +=
      fmt::format("scenario {}{}\n", r.scenario.name, st.partial ? "  (PARTIAL: interrupted)" : "");
  out += fmt::format("  {}\n", conditions_line(r));
  out += fmt::format("  requests {}  ok {}  errors {}  in {:.2f}s  →  {:.1f} req/s\n", c.requests,
                     c.ok, c.error_total(), std::chrono::duration<double>(st.measured).count(),
                     st.rps());
  if (open || c.late || c.unfinished)
    out += fmt::format("  late starts {}  unfinished at end {}\n", c.late, c.unfinished);
  out += "  latency (ms)        p50      p90      p99    p99.9      max     mean\n";
  auto row = [&](const char* label, const measure::Histogram& h) {
    out += fmt::format("  {:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.3f}\n", label,
                       ms(h.value_at_percentile(50)), ms(h.value_at_percentile(90)),
                       ms(h.value_at_percentile(99)), ms(h.value_at_percentile(99.9)), ms(h.max()),
                       h.mean() / 1000.0);
  };
  if (open) {
    row("corrected", st.latency);
    row("uncorrected", st.uncorrected);
  } else {
    row("latency", st.latency);
  }
  out += generate_summary_text(r);
  if (c.error_total() > 0) {
    out += "  errors:";
    for (size_t i = 0; i < c.errors.size(); ++i)
      if (c.errors[i])
        out +=
            fmt::format(" {}={}", load::to_string(static_cast<load::ErrorClass>(i)), c.errors[i]);
    out += "\n";
  }
  const double cpu = st.client_cpu_seconds;
  out += fmt::format(
      "  connections opened {}{}  reuse {:.1f}%  bytes in {} out {}  client CPU {:.2f}s ({:.0f} "
      "req/CPU-s)\n",
      c.connections_opened, r.scenario.load.warmup.count() > 0 ? " (after warm-up)" : "",
      st.connection_reuse_rate() * 100.0, c.bytes_in, c.bytes_out, cpu,
      cpu > 0 ? static_cast<double>(c.requests) / cpu : 0.0);
  const auto& p = st.pool;
  out += fmt::format(
      "  pool  created {}  reused {} ({:.1f}%)  failed {}  closed {}  pre-connected {}  peak {} of "
      "max {}"
      "  health checks {} ok {} failed  client peak RSS {:.1f} MiB\n",
      p.created, p.reused, p.reuse_rate() * 100.0, p.failed, p.closed, p.preconnected, p.peak_size,
      p.max, p.health_checks_passed, p.health_checks_failed,
      static_cast<double>(st.client_peak_rss_kb) / 1024.0);
  if (r.server.embedded) out += fmt::format("  embedded server {}\n", r.server.exit);
  for (const auto& w : r.warnings) out += fmt::format("  warning: {}\n", w);
  return out;
}

}  // namespace servelab::report
