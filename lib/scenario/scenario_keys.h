#pragma once
// The scenario's key tables (key_table.h), for the parser and the echo.
// Inside lib/scenario only: both include this, nothing else needs it.

#include <span>
#include <string_view>

#include "common/toml_reader.h"
#include "scenario/key_table.h"
#include "scenario/scenario.h"

namespace servelab::scenario {

// The values of the choice keys: the parser's valid names, the echo's
// spelling, and to_string() (scenario_parser.h).
inline constexpr Choice<LoadMode> kModes[] = {{"closed", LoadMode::closed},
                                              {"open", LoadMode::open}};
inline constexpr Choice<Arrival> kArrivals[] = {{"constant", Arrival::constant},
                                                {"poisson", Arrival::poisson}};
inline constexpr Choice<EngineKind> kEngines[] = {
    {"curl", EngineKind::curl}, {"native", EngineKind::native}, {"auto", EngineKind::auto_}};
// In RequestKind order (RequestKindBit values follow it).
inline constexpr Choice<RequestKind> kKinds[] = {{"http", RequestKind::http},
                                                 {"infer", RequestKind::infer},
                                                 {"generate", RequestKind::generate}};
inline constexpr Choice<Distribution> kDistributions[] = {{"uniform", Distribution::uniform},
                                                          {"zipf", Distribution::zipf},
                                                          {"weights", Distribution::weights}};
inline constexpr Choice<ScrapeMetrics> kScrapeMetrics[] = {
    {"auto", ScrapeMetrics::auto_}, {"on", ScrapeMetrics::on}, {"off", ScrapeMetrics::off}};
inline constexpr Choice<std::string_view> kMethods[] = {
    {"GET", "GET"},     {"POST", "POST"}, {"PUT", "PUT"},        {"DELETE", "DELETE"},
    {"PATCH", "PATCH"}, {"HEAD", "HEAD"}, {"OPTIONS", "OPTIONS"}};

// The top-level table; its rows lead to the others (scenario_keys.cpp).
std::span<const Key<Scenario>> scenario_keys();
// One [[requests]] table (request_keys.cpp).
std::span<const Key<RequestSpec>> request_keys();

// What a request of its kind has before its keys are read: infer and
// generate requests POST, generate ones to /v1/completions and without a
// "seed" field unless the key gives one.
void apply_kind_defaults(RequestSpec& request);

// Reads one [[requests]] table through request_keys() and its rules.
void read_request(TableReader& r, RequestSpec& request);

// "http://host..." or "https://host...": an absolute URL with a host.
bool is_http_url(std::string_view text);

}  // namespace servelab::scenario
