#include "scenario/key_table.h"

#include "scenario/scenario_keys.h"

namespace servelab::scenario {

std::string kinds_text(uint8_t mask) {
  std::string text;
  for (const Choice<RequestKind>& kind : kKinds) {
    if ((mask & kind_bit(kind.value)) != 0)
      text += fmt::format("{}\"{}\"", text.empty() ? "" : " or ", kind.name);
  }
  return text;
}

Error wrong_type(std::string_view where) {
  return make_error(fmt::format("result: {} has the wrong type", where));
}

}  // namespace servelab::scenario
