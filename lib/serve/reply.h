#pragma once
// How a routed request is answered: once, from any thread, at any later
// time. Every answer is counted in servelab_http_requests_total under the
// route label the router gave the request and the answer's status, so that
// no route can forget to count.

#include <functional>
#include <memory>
#include <optional>

#include "http/http_server.h"
#include "serve/responses.h"
#include "serve/server_metrics.h"

namespace servelab::serve {

class Reply {
 public:
  // Where an answer goes when there is no connection (InferenceApi::handle()).
  using Send = std::function<void(http::Response&&)>;

  // REQUIRES: `metrics` outlives every copy.
  Reply(http::Responder responder, ServerMetrics& metrics, Route route, ReplyTo to);
  Reply(Send send, ServerMetrics& metrics, Route route, ReplyTo to);

  // Sends `response` (counted first, so a client that has it sees the count).
  // REQUIRES: called once for all copies, or stream() instead.
  void operator()(http::Response&& response) const;
  // Answers with a streamed body (http::Responder::stream()), counted with
  // the header's status. Null when the answer cannot be streamed (no
  // connection); the caller then answers with operator().
  std::shared_ptr<http::BodyWriter> stream(http::ResponseHeader header) const;

  // http::Responder::watch_client() / client_gone(); without a connection
  // nothing is watched and the client is never gone.
  void watch_client() const {
    if (responder_) responder_->watch_client();
  }
  bool client_gone() const noexcept { return responder_ && responder_->client_gone(); }

  Route route() const noexcept { return route_; }
  ReplyTo to() const noexcept { return to_; }

 private:
  std::optional<http::Responder> responder_;  // set: a connection
  Send send_;                                 // else
  ServerMetrics* metrics_;
  Route route_;
  ReplyTo to_;
};

}  // namespace servelab::serve
