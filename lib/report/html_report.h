#pragma once
// One self-contained HTML page (inline CSS and SVG, no scripts, nothing
// fetched from the network) with three plots: the latency percentile
// distribution on a log "1/(1-percentile)" axis as HdrHistogram's plotter
// draws it (svg#percentile-plot), requests/s and p99 per second
// (svg#timeline-plot), and the ablation bars, req/s and p99 per toggle
// combination (svg#ablation-plot). The markup is well-formed XML.

#include <string>
#include <vector>

#include "report/ablation.h"
#include "report/run_record.h"

namespace servelab::report {

std::string html_report(const std::vector<RunRecord>& records,
                        const std::vector<FailedRun>& failed = {});

}  // namespace servelab::report
