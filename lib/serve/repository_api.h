#pragma once
// The Open Inference Protocol's model repository extension, as Triton
// serves it, over the model manager:
//   POST /v2/repository/index                 [{name, version, state, reason}]
//   POST /v2/repository/models/{name}/load    200 when ready / 503 with the reason
//   POST /v2/repository/models/{name}/unload  200 / 409 while dependents are loaded

#include <optional>
#include <string>

#include "http/http_server.h"
#include "models/model_manager.h"
#include "serve/reply.h"
#include "serve/router.h"

namespace servelab::serve {

class RepositoryApi {
 public:
  // REQUIRES: `manager` outlives this object.
  explicit RepositoryApi(models::ModelManager& manager) : manager_(manager) {}

  // The route handlers (Router::Handler). A load is answered when the model
  // is ready or failed: at once, or later from a loader thread.
  void index(http::Request&& request, const PathParams& params, const Reply& reply);
  void load(http::Request&& request, const PathParams& params, const Reply& reply);
  void unload(http::Request&& request, const PathParams& params, const Reply& reply);

 private:
  std::optional<http::Response> read_model_request(const http::Request& request,
                                                   const PathParams& params, bool unload,
                                                   std::string& name,
                                                   bool& unload_dependents) const;

  models::ModelManager& manager_;
};

}  // namespace servelab::serve
