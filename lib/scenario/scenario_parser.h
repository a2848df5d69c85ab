#pragma once
// TOML → Scenario. Errors name file:line:column, the key, what was expected
// and the valid choices; unknown keys are errors with a did-you-mean.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "scenario/scenario.h"

namespace servelab::scenario {

// `overrides` are "dotted.key=value" strings from --set, applied to the TOML
// document before validation; value is parsed as a TOML value, or taken as a
// string when it does not parse as one ("load.duration=30s").
// Array elements are addressed by index: "requests.0.model=m1".
Result<Scenario> parse_scenario_file(const std::string& path,
                                     const std::vector<std::string>& overrides = {});
Result<Scenario> parse_scenario_text(std::string_view text, const std::string& source_name,
                                     const std::vector<std::string>& overrides = {});

std::string_view to_string(LoadMode m);
std::string_view to_string(Arrival a);
std::string_view to_string(EngineKind e);
std::string_view to_string(RequestKind k);
std::string_view to_string(Distribution d);
std::string_view to_string(ScrapeMetrics m);

}  // namespace servelab::scenario
