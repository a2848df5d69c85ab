#pragma once
// Markdown fit for a CI job summary ($GITHUB_STEP_SUMMARY): one run gives
// its conditions, figures, latency percentiles, thresholds and warnings;
// several runs give the ablation table (ablation.h) first.

#include <string>
#include <vector>

#include "report/ablation.h"
#include "report/run_record.h"

namespace servelab::report {

std::string markdown_report(const std::vector<RunRecord>& records,
                            const std::vector<FailedRun>& failed = {});
// The ablation table alone (Markdown table + notes).
std::string ablation_markdown(const AblationTable& table);

}  // namespace servelab::report
