#pragma once
// GET /metrics: every series of the server in Prometheus text format 0.0.4
// (ServerMetrics::render(), with the series other components add to it).

#include "http/http_server.h"
#include "serve/reply.h"
#include "serve/router.h"
#include "serve/server_metrics.h"

namespace servelab::serve {

class MetricsRoute {
 public:
  // REQUIRES: `metrics` outlives this object.
  explicit MetricsRoute(const ServerMetrics& metrics) : metrics_(metrics) {}

  // The route handler (Router::Handler).
  void scrape(http::Request&& request, const PathParams& params, const Reply& reply) const;

 private:
  const ServerMetrics& metrics_;
};

}  // namespace servelab::serve
