#include "serve/metrics_route.h"

#include <boost/beast/http/status.hpp>

#include "serve/responses.h"

namespace servelab::serve {

void MetricsRoute::scrape(http::Request&& request, const PathParams&, const Reply& reply) const {
  reply(make_response(request, boost::beast::http::status::ok, metrics_.render(), kPrometheusText));
}

}  // namespace servelab::serve
