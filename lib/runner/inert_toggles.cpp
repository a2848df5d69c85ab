#include "runner/inert_toggles.h"

#include <fmt/format.h>

#include "common/toggles.h"

namespace servelab::runner {

std::vector<report::InertToggle> inert_toggles(const scenario::Scenario& s) {
  uint8_t kinds = 0;  // RequestKindBit mask of the mix
  bool streamed_generate = false;
  for (const scenario::RequestSpec& r : s.requests) {
    kinds = static_cast<uint8_t>(kinds | (1U << static_cast<unsigned>(r.kind)));
    streamed_generate =
        streamed_generate || (r.kind == scenario::RequestKind::generate && r.stream);
  }
  std::vector<report::InertToggle> inert;
  for (const ToggleInfo& t : kToggles) {
    if (!(s.toggles.*t.field)) continue;
    if (t.side == ToggleSide::server && s.target != "embedded") {
      inert.push_back(
          {std::string(t.name),
           fmt::format("server-side: not applied to a foreign target (servelab sets {} only on the "
                       "server it starts)",
                       t.server_flag)});
      continue;
    }
    // Streaming changes how an answer is sent only when the request asked
    // for a stream; a non-streamed completion is built whole either way.
    const bool can_act =
        (t.acts_on & kinds) != 0 && (t.field != &Toggles::streaming || streamed_generate);
    if (!can_act)
      inert.push_back({std::string(t.name),
                       fmt::format("acts only on {}; the request mix has none", t.acts_when)});
  }
  return inert;
}

}  // namespace servelab::runner
