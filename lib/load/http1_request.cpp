#include "load/http1_request.h"

#include <fmt/format.h>

#include "common/headers.h"

namespace servelab::load {

std::string serialize_http1_request(const PreparedRequest& r, const HttpUrl& url, bool pooling) {
  std::string out = fmt::format("{} {} HTTP/1.1\r\n", r.method, url.path);
  if (!has_header_line(r.headers, "Host")) out += fmt::format("Host: {}\r\n", url.authority());
  for (const std::string& h : r.headers) out += h + "\r\n";
  const bool wants_length =
      !r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH";
  if (wants_length && !has_header_line(r.headers, "Content-Length")) {
    out += fmt::format("Content-Length: {}\r\n", r.body.size());
  }
  if (!pooling && !has_header_line(r.headers, "Connection")) out += "Connection: close\r\n";
  out += "\r\n";
  out += r.body;
  return out;
}

}  // namespace servelab::load
