#pragma once
// The model manager's series in GET /metrics (servelab_model_*): per-model
// state, memory and leases; loads, failures, load time, cache hits and
// misses, evictions, preloads and their hit rate, the load queue, memory in
// use against the budget. docs/SERVER.md lists them.

#include <cstdint>
#include <string>
#include <vector>

#include "models/model_manager.h"

namespace servelab::serve {

// Appends the series to `out` (Prometheus text 0.0.4). `statuses` and
// `labels` (escaped label values) are in the same order, one per model.
// `async`: the async_loading toggle; `waits`: requests that waited for a
// load and were answered from a loader thread.
void render_model_manager(std::string& out, const std::vector<models::ModelStatus>& statuses,
                          const models::ManagerStats& stats, const std::vector<std::string>& labels,
                          bool async, uint64_t waits);

}  // namespace servelab::serve
