#pragma once
// The human summary printed at the end of `servelab run`: conditions first
// (a figure without its conditions is not reported), then throughput,
// latency percentiles (corrected and uncorrected in open loop) and errors.

#include <string>

#include "report/run_record.h"

namespace servelab::report {

std::string summary_text(const RunRecord& record);
// `run --latency`: the percentile spectrum as wrk2 prints it (50% to 100%,
// each nine added), in ms, with the uncorrected one too in open loop.
std::string latency_spectrum_text(const RunRecord& record);
// One line: "mode=closed connections=100 threads=1 toggles=pooling ... on 2 cores (CPU)".
std::string conditions_line(const RunRecord& record);
// The toggles that are on, in kToggles order, joined by '+' ("pooling+batching"),
// or "all-off": run folder names and ablation rows.
std::string toggles_label(const scenario::Toggles& t);

}  // namespace servelab::report
