#pragma once
// The scenario as result files echo it: written and read back from the same
// key table as the TOML parser (scenario_keys), so that a key is declared once.
// (Declarations fixed for the refactor; implemented in scenario_json.cpp.)

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "common/result.h"
#include "scenario/scenario.h"

namespace servelab::scenario {

// Every key of `s` (defaults included), as result.json's "scenario" object.
boost::json::object scenario_to_json(const Scenario& s);
// The inverse; absent keys keep their defaults; a key of the wrong type is an
// error naming "scenario.<key>".
Result<Scenario> scenario_from_json(const boost::json::value& v);

}  // namespace servelab::scenario
