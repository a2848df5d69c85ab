#include "runner/matrix_runner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/toggles.h"
#include "report/csv_report.h"
#include "report/html_report.h"
#include "report/markdown_report.h"
#include "report/matrix_file.h"
#include "report/summary.h"

namespace servelab::runner {
namespace fs = std::filesystem;
std::vector<std::string> all_toggles() {
  std::vector<std::string> names;
  for (const ToggleInfo& t : kToggles) names.emplace_back(t.name);
  return names;
}

std::string toggle_names(std::string_view separator) {
  return fmt::format("{}", fmt::join(all_toggles(), separator));
}

Result<std::vector<scenario::Toggles>> matrix_combinations(const scenario::Toggles& base,
                                                           const std::vector<std::string>& names,
                                                           MatrixMode mode) {
  if (names.empty()) return make_error("--toggles: expected at least one toggle");
  for (const auto& n : names) {
    if (find_toggle(n) == nullptr)
      return make_error(fmt::format("--toggles: unknown toggle \"{}\"; expected some of {}", n,
                                    toggle_names(", ")));
  }
  auto with = [&](auto on) {
    scenario::Toggles t = base;
    for (size_t i = 0; i < names.size(); ++i) t.*find_toggle(names[i])->field = on(i);
    return t;
  };
  std::vector<scenario::Toggles> all;
  auto add = [&](const scenario::Toggles& t) {
    if (std::none_of(all.begin(), all.end(), [&](const auto& x) { return x == t; }))
      all.push_back(t);
  };
  if (mode == MatrixMode::full) {
    if (names.size() > 10) return make_error("--mode full: at most 10 toggles (2^n runs)");
    // Ordered by how many toggles are on, then by bit pattern: all-off first.
    std::vector<uint32_t> masks;
    for (uint32_t m = 0; m < (1u << names.size()); ++m) masks.push_back(m);
    std::stable_sort(masks.begin(), masks.end(),
                     [](uint32_t a, uint32_t b) { return std::popcount(a) < std::popcount(b); });
    for (uint32_t m : masks) add(with([&](size_t i) { return ((m >> i) & 1u) != 0; }));
  } else {
    add(with([](size_t) { return false; }));
    for (size_t j = 0; j < names.size(); ++j) add(with([&](size_t i) { return i == j; }));
    add(with([](size_t) { return true; }));
  }
  return all;
}

Result<MatrixOutcome> run_matrix(const scenario::Scenario& s, const RunOptions& options,
                                 const MatrixOptions& matrix, const std::atomic<bool>& stop,
                                 const load::ProgressFn& progress, const MatrixStepFn& step) {
  auto combos = matrix_combinations(s.toggles, matrix.toggles, matrix.mode);
  if (!combos) return combos.error();
  const int repeat = std::max(1, matrix.repeat);
  MatrixOutcome out;
  const std::string stamp = matrix_timestamp();
  const fs::path scenario_dir = fs::path(options.results_root) / s.name;
  out.dir =
      options.out_dir.empty() ? (scenario_dir / (stamp + "_matrix")).string() : options.out_dir;
  std::error_code ec;
  fs::create_directories(out.dir, ec);
  if (ec) return make_error(fmt::format("create {}: {}", out.dir, ec.message()));

  report::MatrixFile file;
  file.scenario = s.name;
  file.mode = matrix.mode == MatrixMode::full ? "full" : "one-at-a-time";
  file.repeat = repeat;
  const int total = static_cast<int>(combos->size()) * repeat;
  int index = 0;
  for (int r = 0; r < repeat && !out.interrupted; ++r) {
    for (const scenario::Toggles& t : *combos) {
      if (stop.load()) {
        out.interrupted = true;
        break;
      }
      scenario::Scenario run = s;
      run.toggles = t;
      const std::string label = report::toggles_label(t);
      const std::string folder = repeat > 1 ? fmt::format("{}_r{}", label, r + 1) : label;
      RunOptions o = options;
      o.out_dir = options.out_dir.empty()
                      ? (scenario_dir / fmt::format("{}_{}", stamp, folder)).string()
                      : (fs::path(options.out_dir) / folder).string();
      if (step) step(index, total, label);
      ++index;
      auto outcome = run_scenario(run, o, stop, progress);
      if (!outcome) {
        out.failed.push_back({label, outcome.error().message});
        file.failed.push_back({label, outcome.error().message});
        continue;
      }
      file.results.push_back(fs::relative(outcome->result_path, out.dir).string());
      if (outcome->record.stats.partial) out.interrupted = true;
      out.runs.push_back(std::move(*outcome));
      if (out.interrupted) break;
    }
  }

  std::vector<report::RunRecord> records;
  for (const auto& run : out.runs) records.push_back(run.record);
  out.matrix_path = (fs::path(out.dir) / "matrix.json").string();
  const std::pair<const char*, std::string> files[] = {
      {"matrix.json", report::to_json_text(file)},
      {"ablation.md", report::markdown_report(records, out.failed)},
      {"ablation.csv", report::csv_report(records)},
      {"ablation.html", report::html_report(records, out.failed)},
  };
  for (const auto& [name, text] : files) {
    if (auto w = write_file_atomically((fs::path(out.dir) / name).string(), text); !w)
      return w.error();
  }
  return out;
}

}  // namespace servelab::runner
