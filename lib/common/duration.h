#pragma once
// Durations as scenario files and server flags write them: Go-style ("1m30s")
// with microsecond resolution, which is what the load engine schedules in.

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace servelab {

// "30s", "500ms", "250us", "10m", "1h", "1m30s". Error text says what is accepted.
Result<std::chrono::microseconds> parse_duration(std::string_view text);
// The shortest text parse_duration() reads back as `d` ("1m30s", "250us").
std::string format_duration(std::chrono::microseconds d);

}  // namespace servelab
