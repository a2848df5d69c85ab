#pragma once
// `servelab compare A B`: per toggle combination present on both sides,
// each headline figure of A and B, the change, and the noise (spread across
// repeats) when either side has repeats: a change smaller than the noise is
// marked as such, not reported as a win or a loss.

#include <string>
#include <vector>

#include "report/run_record.h"

namespace servelab::report {

std::string compare_markdown(const std::vector<RunRecord>& a, const std::vector<RunRecord>& b,
                             const std::string& a_name, const std::string& b_name);

}  // namespace servelab::report
