#pragma once
// Toggles that are on but cannot change anything in a run, each with the
// reason, so that a result never credits an optimization that did not act.
// Read from the toggle table (common/toggles.h): a server-side toggle acts
// only on the server servelab starts (target = "embedded"), and every toggle
// needs a request of a kind it acts on; streaming also needs a generate
// request that asks for a stream (stream = true).

#include <vector>

#include "report/run_record.h"
#include "scenario/scenario.h"

namespace servelab::runner {

std::vector<report::InertToggle> inert_toggles(const scenario::Scenario& s);

}  // namespace servelab::runner
