#pragma once
// A blocking HTTP GET/POST with libcurl's easy interface, for control-plane
// calls outside the measured hot path: readiness polls, model metadata,
// /metrics scrapes.

#include <chrono>
#include <string>

#include "common/result.h"

namespace servelab::runner {

struct HttpReply {
  long status = 0;
  std::string body;
};

// Error only for transport failures (connect, timeout); any HTTP status is a reply.
Result<HttpReply> http_get(const std::string& url, std::chrono::milliseconds timeout);

}  // namespace servelab::runner
