#pragma once
// The four optimizations servelab measures, each with its on/off toggle, in
// one table. Everything that names a toggle reads it from here: the scenario
// parser ([toggles] keys), result files, the matrix, summaries, the CLI, the
// embedded server's flags and the inert-toggle check. To add a toggle: add a
// field to Toggles, a row to kToggles, and (server-side) the server option it
// sets (serve/server_flags.cpp).

#include <array>
#include <cstdint>
#include <string_view>

namespace servelab {

// What a run measures with each optimization on or off (DESIGN.md table).
struct Toggles {
  bool pooling = true;  // generator: keep-alive connection pool; off: a new connection per request
  bool batching = false;       // server: dynamic batching of infer requests
  bool streaming = false;      // server: /v1/completions streamed as tokens come
  bool async_loading = false;  // server: background model loading; off: inline, blocking load

  friend bool operator==(const Toggles&, const Toggles&) = default;
};

// Where a toggle acts: in the generator (applies to any target), or in the
// server (applies only to a server servelab starts itself, target = "embedded").
enum class ToggleSide : uint8_t { client, server };

// Request kinds as bits, so that a toggle row can say which kinds it acts on.
// The values match scenario::RequestKind's order (http, infer, generate).
enum RequestKindBit : uint8_t {
  kHttpRequests = 1U << 0,
  kInferRequests = 1U << 1,
  kGenerateRequests = 1U << 2,
  kAllRequests = kHttpRequests | kInferRequests | kGenerateRequests,
};

struct ToggleInfo {
  std::string_view name;  // scenario key under [toggles], result JSON key, matrix --toggles name
  bool Toggles::*field;   // the flag in Toggles
  ToggleSide side;
  std::string_view
      server_flag;  // servelab-server flag taking on|off; empty for client-side toggles
  uint8_t
      acts_on;  // RequestKindBit mask: a mix without such requests gives the toggle nothing to do
  // Extra condition, in words, for docs and inert-toggle reasons (e.g.
  // streaming only acts on generate requests that ask for "stream": true).
  std::string_view acts_when;
};

inline constexpr std::array<ToggleInfo, 4> kToggles{{
    {"pooling", &Toggles::pooling, ToggleSide::client, "", kAllRequests, "any request"},
    {"batching", &Toggles::batching, ToggleSide::server, "--batching", kInferRequests,
     "infer requests sent concurrently to the same model"},
    {"streaming", &Toggles::streaming, ToggleSide::server, "--streaming", kGenerateRequests,
     "generate requests with stream = true"},
    {"async_loading", &Toggles::async_loading, ToggleSide::server, "--async-loading",
     kInferRequests | kGenerateRequests, "requests for models that are not loaded yet"},
}};

// The row named `name`, or null.
constexpr const ToggleInfo* find_toggle(std::string_view name) {
  for (const ToggleInfo& t : kToggles)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace servelab
