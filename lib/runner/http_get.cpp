#include "runner/http_get.h"

#include <curl/curl.h>

#include <memory>

#include "load/curl_global.h"

namespace servelab::runner {
namespace {

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};

}  // namespace

Result<HttpReply> http_get(const std::string& url, std::chrono::milliseconds timeout) {
  if (!load::ensure_curl_global_init()) return make_error("libcurl failed to initialize");
  std::unique_ptr<CURL, EasyDeleter> easy(curl_easy_init());
  if (!easy) return make_error("curl_easy_init failed");
  HttpReply reply;
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(h, CURLOPT_PROXY, "");  // never through an environment proxy
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(h);
  if (rc != CURLE_OK)
    return make_error("GET " + url + ": " + (errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc)));
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

}  // namespace servelab::runner
