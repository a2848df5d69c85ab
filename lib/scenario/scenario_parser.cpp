#include "scenario/scenario_parser.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <fstream>
#include <sstream>

#include "common/diagnostics.h"
#include "common/toml_reader.h"
#include "scenario/overrides.h"
#include "scenario/scenario_keys.h"

namespace servelab::scenario {

namespace {

// Every key through the tables of scenario_keys.cpp (docs/SCENARIOS.md documents them).
Scenario read_scenario(const toml::table& root, const std::string& source,
                       Diagnostics& diagnostics) {
  Scenario scenario;
  scenario.source = source;
  TableReader top(root, "", toml_names(scenario_keys()), diagnostics);
  read_keys(top, scenario_keys(), scenario);
  top.report_unknown_keys();
  return scenario;
}

}  // namespace

Result<Scenario> parse_scenario_file(const std::string& path,
                                     const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(fmt::format("{}: cannot open scenario file", path));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(fmt::format("{}: cannot read scenario file", path));
  return parse_scenario_text(text.str(), path, overrides);
}

Result<Scenario> parse_scenario_text(std::string_view text, const std::string& source_name,
                                     const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return make_error(fmt::format("{}: TOML syntax error: {}", position(e.source(), source_name),
                                  e.description()));
  }
  for (const std::string& assignment : overrides) {
    // An override that cannot be applied leaves nothing sensible to validate.
    if (Status applied = apply_override(root, assignment); !applied) {
      return std::move(applied).error();
    }
  }
  Diagnostics diagnostics(source_name);
  Scenario scenario = read_scenario(root, source_name, diagnostics);
  if (!diagnostics.empty()) return diagnostics.to_error();
  return scenario;
}

std::string_view to_string(LoadMode m) { return choice_name(kModes, m); }
std::string_view to_string(Arrival a) { return choice_name(kArrivals, a); }
std::string_view to_string(EngineKind e) { return choice_name(kEngines, e); }
std::string_view to_string(RequestKind k) { return choice_name(kKinds, k); }
std::string_view to_string(Distribution d) { return choice_name(kDistributions, d); }
std::string_view to_string(ScrapeMetrics m) { return choice_name(kScrapeMetrics, m); }

}  // namespace servelab::scenario
