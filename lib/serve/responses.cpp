#include "serve/responses.h"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <utility>

namespace servelab::serve {

namespace json = boost::json;
namespace bhttp = boost::beast::http;
using http::Response;

Response make_response(ReplyTo to, bhttp::status status, std::string body,
                       std::string_view content_type) {
  Response res(status, to.version);
  res.set(bhttp::field::content_type, content_type);
  res.keep_alive(to.keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

Response json_response(ReplyTo to, bhttp::status status, const json::value& body) {
  return make_response(to, status, json::serialize(body));
}

Response error_response(ReplyTo to, bhttp::status status, std::string_view message) {
  json::object body;
  body["error"] = message;
  return json_response(to, status, body);
}

Response method_not_allowed(ReplyTo to, std::string_view method, std::string_view allow) {
  Response res =
      error_response(to, bhttp::status::method_not_allowed,
                     "method " + std::string(method) + " not allowed; use " + std::string(allow));
  res.set(bhttp::field::allow, allow);
  return res;
}

Response overloaded(ReplyTo to, std::string_view message) {
  Response res = error_response(to, bhttp::status::service_unavailable, message);
  res.set(bhttp::field::retry_after, "1");
  return res;
}

Response acquire_error(ReplyTo to, const std::string& model, const models::Acquired& acquired) {
  if (acquired.error == models::AcquireError::not_found) {
    return error_response(to, bhttp::status::not_found, "model '" + model + "' not found");
  }
  std::string message = acquired.message.empty() ? "model is not available" : acquired.message;
  if (message.find("'" + model + "'") == std::string::npos)
    message = "model '" + model + "': " + message;
  Response res = error_response(to, bhttp::status::service_unavailable, message);
  if (acquired.error == models::AcquireError::timeout ||
      acquired.error == models::AcquireError::shutting_down ||
      acquired.error == models::AcquireError::cancelled) {
    res.set(bhttp::field::retry_after, "1");
  }
  return res;
}

}  // namespace servelab::serve
