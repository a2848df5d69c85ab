#include "report/html_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "report/gate.h"
#include "report/generate_report.h"
#include "report/markdown_report.h"
#include "report/summary.h"

namespace servelab::report {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                   "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr double kW = 720, kH = 300, kLeft = 70, kRight = 20, kTop = 20, kBottom = 50;

const char* color(size_t i) { return kColors[i % std::size(kColors)]; }

// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
double nice_max(double v) {
  if (v <= 0) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (v <= m * p) return m * p;
  return 10 * p;
}

struct Plot {
  std::string id, title, x_label, y_label;
  std::string body;  // paths and marks
  double x_max = 1, y_max = 1;
  bool log_x = false;  // x in decades (log10), labels as percentiles
  double px(double x) const { return kLeft + x / x_max * (kW - kLeft - kRight); }
  double py(double y) const { return kH - kBottom - y / y_max * (kH - kTop - kBottom); }
  std::string render(const std::vector<std::string>& legend) const {
    std::string s = fmt::format(
        "<svg id=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
        "viewBox=\"0 0 {} {}\" role=\"img\">\n"
        "<title>{}</title>\n",
        id, kW, kH + 20.0 * static_cast<double>(legend.size()), kW,
        kH + 20.0 * static_cast<double>(legend.size()), xml_escape(title));
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>\n", kLeft,
                     kH - kBottom, kW - kRight, kH - kBottom);
    s += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" class=\"axis\"/>\n", kLeft,
                     kTop, kLeft, kH - kBottom);
    for (int i = 0; i <= 4; ++i) {
      const double y = y_max * i / 4.0;
      s += fmt::format(
          "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" class=\"grid\"/>"
          "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"end\">{:.4g}</text>\n",
          kLeft, py(y), kW - kRight, py(y), kLeft - 6, py(y) + 4, y);
    }
    if (log_x) {
      const char* labels[] = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"};
      for (int d = 0; d <= static_cast<int>(x_max) && d < 7; ++d)
        s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                         px(d), kH - kBottom + 16, labels[d]);
    } else {
      for (int i = 0; i <= 4; ++i)
        s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{:.4g}</text>\n",
                         px(x_max * i / 4.0), kH - kBottom + 16, x_max * i / 4.0);
    }
    s += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                     (kLeft + kW - kRight) / 2, kH - 12, xml_escape(x_label));
    s += fmt::format(
        "<text x=\"14\" y=\"{:.1f}\" transform=\"rotate(-90 14 {:.1f})\" "
        "text-anchor=\"middle\">{}</text>\n",
        (kTop + kH - kBottom) / 2, (kTop + kH - kBottom) / 2, xml_escape(y_label));
    s += body;
    for (size_t i = 0; i < legend.size(); ++i)
      s += fmt::format(
          "<rect x=\"{}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/>"
          "<text x=\"{}\" y=\"{:.1f}\">{}</text>\n",
          kLeft, kH + 20.0 * static_cast<double>(i), color(i), kLeft + 18,
          kH + 20.0 * static_cast<double>(i) + 10, xml_escape(legend[i]));
    return s + "</svg>\n";
  }
};

std::string polyline(const std::vector<std::pair<double, double>>& pts, const char* stroke,
                     const char* dash = "") {
  std::string s =
      fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{} points=\"", stroke,
                  *dash ? fmt::format(" stroke-dasharray=\"{}\"", dash) : std::string());
  for (const auto& [x, y] : pts) s += fmt::format("{:.1f},{:.1f} ", x, y);
  return s + "\"/>\n";
}

std::string label_of(const RunRecord& r, size_t i) {
  return fmt::format("{}. {} {}", i + 1, r.scenario.name, toggles_label(r.scenario.toggles));
}

// X is log10(1 / (1 - p)): 0 at p=0, 2 at 99%, 3 at 99.9% (HdrHistogram's plotter).
std::string percentile_plot(const std::vector<RunRecord>& rs) {
  Plot p{"percentile-plot", "Latency by percentile", "percentile", "latency (ms)", "", 1, 1, true};
  double y_max = 0, x_max = 2;
  std::vector<std::vector<std::pair<double, double>>> lines;
  for (const RunRecord& r : rs) {
    std::vector<std::pair<double, double>> line;
    if (r.stats.latency.count() > 0) {
      for (const auto& pt : r.stats.latency.percentile_spectrum(5)) {
        if (pt.percentile >= 100) continue;
        const double x = std::log10(100.0 / (100.0 - pt.percentile));
        line.emplace_back(x, static_cast<double>(pt.value) / 1000.0);
        x_max = std::max(x_max, x);
        y_max = std::max(y_max, static_cast<double>(pt.value) / 1000.0);
      }
    }
    lines.push_back(std::move(line));
  }
  p.x_max = std::min(6.0, std::ceil(x_max));
  p.y_max = nice_max(y_max);
  std::vector<std::string> legend;
  for (size_t i = 0; i < rs.size(); ++i) {
    std::vector<std::pair<double, double>> pts;
    for (const auto& [x, y] : lines[i])
      if (x <= p.x_max) pts.emplace_back(p.px(x), p.py(y));
    p.body += polyline(pts, color(i));
    legend.push_back(label_of(rs[i], i));
  }
  return p.render(legend);
}

// Seconds per timeline point: 1, or wider for a long run (run_stats.h), read
// as the gap between consecutive points' starts.
double bucket_width(const std::vector<load::TimelinePoint>& t) {
  return t.size() >= 2 && t[1].second > t[0].second ? t[1].second - t[0].second : 1.0;
}

std::string timeline_plot(const std::vector<RunRecord>& rs) {
  Plot p{"timeline-plot",
         "Requests per second (solid) and p99 latency (dashed) over time",
         "second of the measured phase",
         "req/s (solid); p99 ms × scale (dashed)",
         "",
         1,
         1,
         false};
  double t_max = 1, rps_max = 0, p99_max = 0;
  for (const RunRecord& r : rs) {
    const double w = bucket_width(r.stats.timeline);
    for (const auto& t : r.stats.timeline) {
      t_max = std::max(t_max, t.second + w);
      rps_max = std::max(rps_max, static_cast<double>(t.requests) / w);
      p99_max = std::max(p99_max, static_cast<double>(t.p99_us) / 1000.0);
    }
  }
  p.x_max = t_max;
  p.y_max = nice_max(rps_max);
  // p99 is drawn on the same axes, scaled so its maximum sits at the top.
  const double scale = p99_max > 0 ? p.y_max / nice_max(p99_max) : 1;
  p.y_label = fmt::format("req/s (solid); p99 ms × {:.4g} (dashed)", scale);
  std::vector<std::string> legend;
  for (size_t i = 0; i < rs.size(); ++i) {
    std::vector<std::pair<double, double>> rps, p99;
    const double w = bucket_width(rs[i].stats.timeline);
    for (const auto& t : rs[i].stats.timeline) {
      rps.emplace_back(p.px(t.second + w / 2), p.py(static_cast<double>(t.requests) / w));
      p99.emplace_back(p.px(t.second + w / 2),
                       p.py(static_cast<double>(t.p99_us) / 1000.0 * scale));
    }
    p.body += polyline(rps, color(i));
    p.body += polyline(p99, color(i), "5,3");
    legend.push_back(label_of(rs[i], i));
  }
  return p.render(legend);
}

std::string ablation_plot(const AblationTable& t) {
  // Two bar groups side by side: req/s (left half) and p99 (right half).
  const double row_h = 26,
               height = kTop + row_h * static_cast<double>(std::max<size_t>(1, t.rows.size())) + 40;
  const double half = (kW - 200) / 2;
  double rps_max = 0, p99_max = 0;
  for (const auto& r : t.rows) {
    rps_max = std::max(rps_max, r.median.rps);
    p99_max = std::max(p99_max, r.median.p99_us / 1000.0);
  }
  rps_max = nice_max(rps_max);
  p99_max = nice_max(p99_max);
  std::string s = fmt::format(
      "<svg id=\"ablation-plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "viewBox=\"0 0 {} {}\" role=\"img\">\n"
      "<title>Ablation: req/s and p99 per toggle combination</title>\n"
      "<text x=\"200\" y=\"14\">req/s (axis to {:.4g})</text><text x=\"{:.1f}\" y=\"14\">p99 ms "
      "(axis to {:.4g})</text>\n",
      kW, height, kW, height, rps_max, 200 + half + 10, p99_max);
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const AblationRow& r = t.rows[i];
    const double y = kTop + row_h * static_cast<double>(i);
    std::string label = r.label;
    if (!r.inert.empty()) label += " *";
    const double w1 = r.median.rps / rps_max * (half - 10),
                 w2 = r.median.p99_us / 1000.0 / p99_max * (half - 10);
    s += fmt::format("<text x=\"194\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n", y + 15,
                     xml_escape(label));
    s += fmt::format(
        "<rect x=\"200\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"18\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{:.0f}</text>\n",
        y + 2, w1, color(0), 204 + w1, y + 15, r.median.rps);
    s += fmt::format(
        "<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"18\" fill=\"{}\"/>"
        "<text x=\"{:.1f}\" y=\"{:.1f}\">{:.2f}</text>\n",
        200 + half + 10, y + 2, w2, color(1), 200 + half + 14 + w2, y + 15,
        r.median.p99_us / 1000.0);
  }
  s += fmt::format(
      "<text x=\"4\" y=\"{:.1f}\">* a toggle in this combination had no effect (see the "
      "table)</text>\n",
      height - 10);
  return s + "</svg>\n";
}

// Markdown tables → HTML tables, enough for the ablation_markdown output:
// lines starting with '|' form a table, the separator line is skipped.
std::string table_html(const std::string& md) {
  std::string out, line;
  bool in_table = false, header = false;
  size_t pos = 0;
  while (pos < md.size()) {
    const size_t nl = md.find('\n', pos);
    line = md.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? md.size() : nl + 1;
    if (line.starts_with('|')) {
      if (!in_table) {
        out += "<table>\n";
        in_table = header = true;
      }
      if (line.starts_with("|---")) continue;
      out += "<tr>";
      size_t c = 1;
      while (c < line.size()) {
        const size_t e = line.find('|', c);
        if (e == std::string::npos) break;
        std::string text = line.substr(c, e - c);
        while (!text.empty() && text.front() == ' ') text.erase(0, 1);
        while (!text.empty() && text.back() == ' ') text.pop_back();
        out += header ? fmt::format("<th>{}</th>", xml_escape(text))
                      : fmt::format("<td>{}</td>", xml_escape(text));
        c = e + 1;
      }
      out += "</tr>\n";
      header = false;
    } else {
      if (in_table) out += "</table>\n";
      in_table = false;
      if (line.starts_with("- "))
        out += fmt::format("<p class=\"note\">{}</p>\n", xml_escape(line.substr(2)));
      else if (!line.empty())
        out += fmt::format("<p>{}</p>\n", xml_escape(line));
    }
  }
  if (in_table) out += "</table>\n";
  return out;
}

}  // namespace

std::string html_report(const std::vector<RunRecord>& rs, const std::vector<FailedRun>& failed) {
  const std::string name = rs.empty() ? std::string("(no runs)") : rs.front().scenario.name;
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  out += fmt::format("<title>servelab: {}</title>\n", xml_escape(name));
  out +=
      "<style>\nbody { font-family: sans-serif; margin: 2em; color: #222; }\n"
      "table { border-collapse: collapse; margin: 1em 0; }\n"
      "th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }\n"
      "th:first-child, td:first-child { text-align: left; }\n"
      "svg text { font-size: 11px; fill: #333; }\n.axis { stroke: #333; }\n.grid { stroke: "
      "#e5e5e5; }\n"
      ".partial { color: #b00; font-weight: bold; }\n.fail { color: #b00; }\n.note { color: #555; "
      "}\n</style>\n</head>\n<body>\n";
  out += fmt::format("<h1>servelab: {}</h1>\n", xml_escape(name));
  for (size_t i = 0; i < rs.size(); ++i) {
    const RunRecord& r = rs[i];
    out +=
        fmt::format("<p><b>{}</b>{}: <code>{}</code></p>\n", xml_escape(label_of(r, i)),
                    r.stats.partial ? " <span class=\"partial\">PARTIAL (interrupted)</span>" : "",
                    xml_escape(conditions_line(r)));
    for (const auto& c : r.threshold_results)
      out += fmt::format("<p class=\"{}\">{} {}</p>\n", c.pass ? "note" : "fail",
                         c.pass ? "PASS" : "FAIL", xml_escape(c.message));
    for (const auto& w : r.warnings)
      out += fmt::format("<p class=\"note\">warning: {}</p>\n", xml_escape(w));
  }
  const AblationTable table = make_ablation(rs, failed);
  out += "<h2>Summary</h2>\n" + table_html(ablation_markdown(table));
  if (std::any_of(rs.begin(), rs.end(),
                  [](const RunRecord& r) { return r.stats.generate.enabled; })) {
    out += "<h2>Token generation (TTFT, inter-token latency, tokens/s)</h2>\n";
    for (size_t i = 0; i < rs.size(); ++i)
      if (rs[i].stats.generate.enabled)
        out += fmt::format("<p><b>{}</b></p>\n", xml_escape(label_of(rs[i], i))) +
               table_html(generate_markdown(rs[i]));
  }
  out += "<h2>Latency percentile distribution</h2>\n" + percentile_plot(rs);
  out += "<h2>Requests per second and p99 over time</h2>\n" + timeline_plot(rs);
  out += "<h2>Ablation</h2>\n" + ablation_plot(table);
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace servelab::report
