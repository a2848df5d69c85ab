#pragma once
// The result file: one JSON document per run (format documented in
// docs/RESULTS.md). Histograms are stored in their lossless encoding so that
// any percentile can be recomputed and results merged later.

#include <boost/json/value.hpp>
#include <string>

#include "common/result.h"
#include "report/run_record.h"

namespace servelab::report {

boost::json::value to_json(const RunRecord& record);
// Pretty-printed JSON text with a trailing newline.
std::string to_json_text(const RunRecord& record);

// Reads a result file back (summary figures, histograms, timeline, config
// echo). Errors name the missing/mistyped field.
Result<RunRecord> parse_result_json(const std::string& text);
Result<RunRecord> read_result_file(const std::string& path);

}  // namespace servelab::report
