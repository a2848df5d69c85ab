#pragma once
// The keys of a `kind = "generate"` [[requests]] table (an OpenAI-compatible
// completion request). Kept apart from scenario_parser.cpp, which dispatches here.

#include <span>
#include <string_view>

#include "scenario/scenario.h"
#include "scenario/table_reader.h"

namespace servelab::scenario {

// Keys only a generate request may hold (the others reject them).
inline constexpr std::string_view kGenerateOnlyKeys[] = {"prompt",      "prompts",    "max_tokens",
                                                         "stream",      "temperature", "extra_body"};

// Reads model, prompt/prompts, max_tokens, stream, temperature, seed, url,
// headers and extra_body into `request` (kind already set); errors are
// reported through `r` with file:line:column.
void read_generate_request(TableReader& r, RequestSpec& request);

}  // namespace servelab::scenario
