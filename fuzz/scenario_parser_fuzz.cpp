// Scenario TOML text -> Scenario (scenario/scenario_parser.h), including the
// diagnostics of a bad one and the result-file echo of a good one.

#include <boost/json/serialize.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "scenario/scenario_json.h"
#include "scenario/scenario_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto scenario = servelab::scenario::parse_scenario_text(text, "fuzz.toml");
  if (!scenario.ok()) {
    // Every error names the source: "fuzz.toml:line:column: ..." or "fuzz.toml: ...".
    if (scenario.error().message.rfind("fuzz.toml", 0) != 0) std::abort();
    return 0;
  }
  // A valid scenario is echoed into result files and read back from them.
  const boost::json::value echo = servelab::scenario::scenario_to_json(*scenario);
  (void)boost::json::serialize(echo);
  auto back = servelab::scenario::scenario_from_json(echo);
  if (!back.ok()) std::abort();
  return 0;
}
