#pragma once
// How `generate` figures appear in the text summary, the Markdown/HTML
// report and the CSV: TTFT, ITL, TPOT percentiles, output tokens, tokens/s
// and the generate-specific issues. Empty for runs without generate requests.

#include <string>
#include <vector>

#include "report/run_record.h"

namespace servelab::report {

// Lines for `servelab run`'s summary (each ends with '\n').
std::string generate_summary_text(const RunRecord& record);
// A Markdown block (tables) for report.md / report.html.
std::string generate_markdown(const RunRecord& record);
// Values for the CSV columns generate_csv_columns(), empty strings without generate.
const std::vector<std::string>& generate_csv_columns();
std::vector<std::string> generate_csv_fields(const RunRecord& record);

}  // namespace servelab::report
