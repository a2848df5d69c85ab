#pragma once
// `servelab run URL -c 50 -d 30s ...`, wrk-style: the flags become a
// scenario's TOML text, which then goes through the same parser as a file
// (same checks, same result, reports and thresholds). `--print-scenario`
// shows that text so that the user can keep it as a file.

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace servelab::scenario {

struct OneLiner {
  std::string url;  // absolute http:// or https:// URL, path and query included
  // Unset flags take these defaults (wrk's where wrk has one).
  int connections = 10;
  std::string duration = "10s";
  std::optional<double> rate;        // -R: open loop at this many req/s; absent: closed loop
  std::optional<int> threads;        // -t; absent: the scenario default (1)
  std::string timeout;               // --timeout ("2s"); empty: the scenario default
  std::vector<std::string> headers;  // -H "Name: value", repeatable
  std::string method = "GET";
  std::string body;  // the request body itself (the CLI reads --body @file)
};

// Whether a `run` argument is a URL for the one-liner (http:// or https://)
// rather than a scenario file.
bool is_url_argument(const std::string& argument);

// The scenario, as TOML text with a comment naming the command it stands
// for. Errors name the flag ("-H 'Accept': expected Name: value").
Result<std::string> one_liner_toml(const OneLiner& o);

}  // namespace servelab::scenario
