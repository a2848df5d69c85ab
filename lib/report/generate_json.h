#pragma once
// The `generate` parts of result.json: the request echo in "scenario",
// "summary.generate" (counts, tokens/s, TTFT/ITL/TPOT/token percentiles) and
// the lossless histograms under "histograms". Written only when the run had
// generate requests, so other results are unchanged.

#include <boost/json/object.hpp>

#include "common/result.h"
#include "load/run_stats.h"
#include "scenario/scenario.h"

namespace servelab::report {

// Scenario echo of a kind = "generate" request (into `out`, which has kind/name/weight).
void generate_request_json(const scenario::RequestSpec& r, boost::json::object& out);
void parse_generate_request(const boost::json::object& in, scenario::RequestSpec& r);

// summary.generate
boost::json::object generate_summary_json(const load::RunStats& stats);
// histograms.{ttft,itl,tpot,output_tokens}
void add_generate_histograms(const load::GenerateStats& g, boost::json::object& histograms);
// Reads both back into stats.generate (absent: enabled stays false).
Status parse_generate(const boost::json::object& root, load::RunStats& stats);

// Header values that carry credentials are not written into results.
bool is_secret_header(std::string_view name);

}  // namespace servelab::report
