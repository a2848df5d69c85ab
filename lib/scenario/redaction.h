#pragma once
// The copy of a scenario that leaves the generator (result.json, reports,
// console) carries no credentials: URLs through redact_url (userinfo and
// secret query parameters -> "***"), secret headers' values -> "<redacted>"
// (common/headers.h is_secret_header, common/redact.h). The run itself uses
// the scenario as given.

#include <string>
#include <string_view>
#include <vector>

#include "scenario/scenario.h"

namespace servelab::scenario {

// What a secret header's value becomes.
inline constexpr std::string_view kRedactedHeader = "<redacted>";

// `s` with target, request URLs, names and health check path redacted, and
// the values of secret headers replaced.
Scenario redacted(const Scenario& s);

// A --set argument as it may be shown: "requests.0.headers.Authorization=***",
// an inline headers table with its secret values replaced, a URL redacted.
std::string redact_override(std::string_view assignment);
std::vector<std::string> redact_overrides(const std::vector<std::string>& assignments);

}  // namespace servelab::scenario
