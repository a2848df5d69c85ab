#include "load/curl_global.h"

#include <curl/curl.h>

namespace servelab::load {

bool ensure_curl_global_init() noexcept {
  // A function-local static is initialized once, thread-safely. The matching
  // curl_global_cleanup() is left to process exit: other threads may still
  // hold handles when a static destructor would run.
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ok;
}

}  // namespace servelab::load
