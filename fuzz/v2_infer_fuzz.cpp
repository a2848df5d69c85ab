// Open Inference Protocol v2 infer request bodies (serve/v2_api.cpp): the
// input is the JSON body of POST /v2/models/mlp-0/infer, answered by the
// real InferenceApi. Bad input must get a 4xx with {"error": ...}, never a
// 5xx or a crash.

#include <boost/json/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace bhttp = boost::beast::http;
  auto& server = servelab::fuzz::FuzzServer::instance();
  servelab::http::Request request(bhttp::verb::post, "/v2/models/mlp-0/infer", 11);
  request.set(bhttp::field::content_type, "application/json");
  request.body().assign(reinterpret_cast<const char*>(data), size);
  request.prepare_payload();
  const servelab::http::Response response = server.api().handle(std::move(request));
  const unsigned status = response.result_int();
  if (status >= 500) std::abort();
  if (status >= 400) {
    boost::system::error_code ec;
    const auto body = boost::json::parse(response.body(), ec);
    if (ec || !body.is_object() || !body.as_object().contains("error")) std::abort();
  }
  return 0;
}
