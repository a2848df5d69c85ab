#include "runner/http_get.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>

#include "common/redact.h"
#include "load/curl_global.h"

namespace servelab::runner {
namespace {

struct Body {
  std::string text;
  size_t max = 0;
  bool over = false;
};

// Returning less than given aborts the transfer (CURLE_WRITE_ERROR).
size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<Body*>(user);
  const size_t n = size * count;
  if (n > body->max - body->text.size()) {
    body->over = true;
    return 0;
  }
  body->text.append(data, n);
  return n;
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};

}  // namespace

Result<HttpReply> http_get(const std::string& url, std::chrono::milliseconds timeout,
                           size_t max_body) {
  if (!load::ensure_curl_global_init()) return make_error("libcurl failed to initialize");
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return make_error("curl_easy_init failed");
  HttpReply reply;
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  Body body;
  body.max = max_body;
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // never through an environment proxy
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(h);
  if (body.over)
    return make_error(
        fmt::format("GET {}: body over {} bytes, not read further", redact_url(url), max_body));
  if (rc != CURLE_OK)
    return make_error(fmt::format("GET {}: {}", redact_url(url),
                                  errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc)));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  reply.body = std::move(body.text);
  return reply;
}

}  // namespace servelab::runner
