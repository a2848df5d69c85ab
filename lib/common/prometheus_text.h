#pragma once
// Reads Prometheus text exposition format (0.0.4) back into numbers, so the
// load generator and the tests can check what a server's /metrics says.

#include <map>
#include <string>
#include <string_view>

namespace servelab {

// Maps each sample's series, written as in the text (`name` or
// `name{label="v",...}`), to its value. Comment and blank lines are skipped,
// and so are lines that are not samples; an optional timestamp after the
// value is ignored. "+Inf", "-Inf" and "NaN" are read as such.
std::map<std::string, double> parse_prometheus_text(std::string_view text);

}  // namespace servelab
