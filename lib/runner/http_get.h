#pragma once
// A blocking HTTP GET/POST with libcurl's easy interface, for control-plane
// calls outside the measured hot path: readiness polls, model metadata,
// /metrics scrapes.

#include <chrono>
#include <cstddef>
#include <string>

#include "common/result.h"

namespace servelab::runner {

struct HttpReply {
  long status = 0;
  std::string body;
};

// Bodies past this are not read (a target can stream without end): 8 MiB,
// far above a /metrics page or a model's metadata.
inline constexpr size_t kMaxReplyBytes = size_t{8} << 20;

// Error for transport failures (connect, `timeout` for the whole transfer)
// and for a body over `max_body` bytes (the transfer is aborted there, so
// memory stays bounded); any HTTP status is a reply. Errors quote the URL
// redacted (common/redact.h).
Result<HttpReply> http_get(const std::string& url, std::chrono::milliseconds timeout,
                           size_t max_body = kMaxReplyBytes);

}  // namespace servelab::runner
