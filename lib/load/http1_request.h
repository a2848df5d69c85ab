#pragma once
// The HTTP/1.1 bytes the native transport sends for one mix entry, built
// once before the run (h2load `h1reqs`): per request it only writes them.

#include <string>

#include "load/http_url.h"
#include "load/plan.h"

namespace servelab::load {

// The request line (origin form), Host unless `r` has one, `r`'s header
// lines, Content-Length when there is a body or the method is POST, PUT or
// PATCH (unless `r` has one), `Connection: close` when `pooling` is off
// (unless `r` has a Connection header), the blank line, then the body.
// `url` is r.url taken apart.
std::string serialize_http1_request(const PreparedRequest& r, const HttpUrl& url, bool pooling);

}  // namespace servelab::load
