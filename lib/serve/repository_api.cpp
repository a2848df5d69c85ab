#include "serve/repository_api.h"

#include <boost/beast/http/status.hpp>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "serve/responses.h"
#include "serve/v2_api.h"

namespace servelab::serve {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Request;
using http::Response;

namespace {

Response bad_request(const Request& request, std::string_view message) {
  return error_response(request, bhttp::status::bad_request, message);
}

// The optional JSON object body of a repository request into `out`; the
// 400 answer when it is not one.
std::optional<Response> read_body(const Request& request, json::object& out) {
  if (request.body().empty()) return std::nullopt;
  boost::system::error_code ec;
  json::value doc = json::parse(request.body(), ec);
  if (ec) return bad_request(request, "invalid JSON body: " + ec.message());
  if (!doc.is_object()) return bad_request(request, "request body must be a JSON object");
  out = std::move(doc.as_object());
  return std::nullopt;
}

// The repository index's state names are Triton's: a model that is not in
// memory is UNAVAILABLE, with "unloaded" or its failure as the reason.
std::string_view repository_state(models::ModelState state) {
  switch (state) {
    case models::ModelState::ready:
      return "READY";
    case models::ModelState::loading:
      return "LOADING";
    case models::ModelState::unloading:
      return "UNLOADING";
    case models::ModelState::unloaded:
    case models::ModelState::failed:
      return "UNAVAILABLE";
  }
  return "UNAVAILABLE";
}

// Load and unload take {"parameters": {...}}; unload knows
// "unload_dependents", load nothing. The 400 answer for anything else.
std::optional<Response> read_parameters(const Request& request, const json::object& body,
                                        bool unload, bool& unload_dependents) {
  for (const auto& [key, value] : body) {
    if (key != "parameters") {
      return bad_request(request,
                         "unknown key '" + std::string(key) + "' (expected \"parameters\")");
    }
    if (!value.is_object()) return bad_request(request, "'parameters' must be an object");
    for (const auto& [pkey, pvalue] : value.get_object()) {
      if (unload && pkey == "unload_dependents") {
        if (!pvalue.is_bool())
          return bad_request(request, "'parameters.unload_dependents' must be a boolean");
        unload_dependents = pvalue.get_bool();
      } else {
        return bad_request(request, "unsupported parameter '" + std::string(pkey) + "'" +
                                        (unload ? " (unload takes only \"unload_dependents\")"
                                                : " (load takes none)"));
      }
    }
  }
  return std::nullopt;
}

}  // namespace

void RepositoryApi::index(Request&& request, const PathParams&, const Reply& reply) {
  json::object body;
  if (auto refused = read_body(request, body)) return reply(std::move(*refused));
  bool ready_only = false;
  for (const auto& [key, value] : body) {
    if (key != "ready") {
      return reply(bad_request(
          request, "unknown key '" + std::string(key) + "' (the index takes only \"ready\")"));
    }
    if (!value.is_bool()) return reply(bad_request(request, "'ready' must be a boolean"));
    ready_only = value.get_bool();
  }
  json::array out;
  for (const models::ModelStatus& status : manager_.index()) {
    if (ready_only && status.state != models::ModelState::ready) continue;
    json::object m;
    m["name"] = status.name;
    m["version"] = kModelVersion;
    m["state"] = repository_state(status.state);
    m["reason"] = !status.reason.empty()                         ? status.reason
                  : status.state == models::ModelState::unloaded ? "unloaded"
                                                                 : "";
    out.emplace_back(std::move(m));
  }
  reply(json_response(request, bhttp::status::ok, out));
}

// The start both load and unload share: the optional body, the model (404
// when unknown), the parameters. The error answer, or empty.
std::optional<Response> RepositoryApi::read_model_request(const Request& request,
                                                          const PathParams& params, bool unload,
                                                          std::string& name,
                                                          bool& unload_dependents) const {
  json::object body;
  if (auto refused = read_body(request, body)) return refused;
  name = params.get("name");
  if (manager_.find(name) < 0) {
    return error_response(request, bhttp::status::not_found, "model '" + name + "' not found");
  }
  return read_parameters(request, body, unload, unload_dependents);
}

void RepositoryApi::unload(Request&& request, const PathParams& params, const Reply& reply) {
  std::string name;
  bool unload_dependents = false;
  if (auto refused = read_model_request(request, params, true, name, unload_dependents)) {
    return reply(std::move(*refused));
  }
  if (Status unloaded = manager_.unload(name, unload_dependents); !unloaded) {
    return reply(error_response(request, bhttp::status::conflict, unloaded.error().message));
  }
  reply(make_response(request, bhttp::status::ok, "{}"));
}

void RepositoryApi::load(Request&& request, const PathParams& params, const Reply& reply) {
  std::string name;
  bool unused = false;
  if (auto refused = read_model_request(request, params, false, name, unused))
    return reply(std::move(*refused));
  // Answered when the model is ready or failed (from a loader thread, or
  // right here when it already is, or in sync mode).
  manager_.load(name, [name, reply](Status loaded) {
    if (loaded) return reply(make_response(reply.to(), bhttp::status::ok, "{}"));
    const std::string& why = loaded.error().message;
    reply(error_response(reply.to(), bhttp::status::service_unavailable,
                         why.find("'" + name + "'") != std::string::npos
                             ? why
                             : "model '" + name + "' failed to load: " + why));
  });
}

}  // namespace servelab::serve
