#pragma once
// The ablation table: runs grouped by toggle combination (repeats of one
// combination form one row: median, and min/max as the spread), each row
// compared with the all-off row. Toggles that were on but had no effect are
// carried per row so that tables show them instead of crediting them.

#include <string>
#include <vector>

#include "report/run_metrics.h"
#include "report/run_record.h"

namespace servelab::report {

struct AblationRow {
  std::string label;  // toggles_label(): "all-off", "pooling+batching", ...
  scenario::Toggles toggles;
  std::vector<InertToggle> inert;  // on, but without effect in these runs
  int runs = 0;
  bool partial = false;          // any repeat was interrupted
  RunMetrics median, low, high;  // across repeats (equal when runs == 1)
  std::vector<const RunRecord*> records;
};

// A combination the matrix could not run (its server did not start, ...).
struct FailedRun {
  std::string label;
  std::string error;
};

struct AblationTable {
  std::vector<AblationRow> rows;  // in order of first appearance
  int baseline = -1;              // index of the all-off row, else -1
  std::vector<FailedRun> failed;
};

// `records` must outlive the table (rows point at them).
AblationTable make_ablation(const std::vector<RunRecord>& records,
                            std::vector<FailedRun> failed = {});

// Relative change of `value` against `base` as "+12.3%" ("" when base is 0).
std::string change_text(double value, double base);
// Half the min..max range relative to the median, as "±1.2%" ("" for one run).
std::string spread_text(double median, double low, double high, int runs);

}  // namespace servelab::report
