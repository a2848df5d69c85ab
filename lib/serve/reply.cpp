#include "serve/reply.h"

#include <utility>

namespace servelab::serve {

Reply::Reply(http::Responder responder, ServerMetrics& metrics, Route route, ReplyTo to)
    : responder_(std::move(responder)), metrics_(&metrics), route_(route), to_(to) {}

Reply::Reply(Send send, ServerMetrics& metrics, Route route, ReplyTo to)
    : send_(std::move(send)), metrics_(&metrics), route_(route), to_(to) {}

void Reply::operator()(http::Response&& response) const {
  metrics_->request_finished(route_, response.result_int());
  if (responder_) {
    (*responder_)(std::move(response));
  } else {
    send_(std::move(response));
  }
}

std::shared_ptr<http::BodyWriter> Reply::stream(http::ResponseHeader header) const {
  if (!responder_) return nullptr;
  metrics_->request_finished(route_, header.result_int());
  return responder_->stream(std::move(header));
}

}  // namespace servelab::serve
