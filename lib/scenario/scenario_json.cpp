#include "scenario/scenario_json.h"

#include <boost/json.hpp>

#include "scenario/scenario_keys.h"

namespace servelab::scenario {

boost::json::object scenario_to_json(const Scenario& s) {
  boost::json::object out;
  write_keys(scenario_keys(), s, out);
  return out;
}

Result<Scenario> scenario_from_json(const boost::json::value& v) {
  const boost::json::object* in = v.if_object();
  if (in == nullptr) return wrong_type("scenario");
  Scenario s;
  if (Status loaded = load_keys(scenario_keys(), *in, "scenario", s); !loaded)
    return std::move(loaded).error();
  return s;
}

}  // namespace servelab::scenario
