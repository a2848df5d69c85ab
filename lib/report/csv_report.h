#pragma once
// CSV: one row per run, columns stable (docs/REPORTS.md lists them; new
// columns are only ever appended). Latencies in ms, rates as fractions.

#include <string>
#include <vector>

#include "report/run_record.h"

namespace servelab::report {

// The header line's columns, in order.
const std::vector<std::string>& csv_columns();
std::string csv_report(const std::vector<RunRecord>& records);

}  // namespace servelab::report
