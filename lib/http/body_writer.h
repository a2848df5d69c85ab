#pragma once
// The body of a streamed response: sent in pieces as the handler produces
// them, with the chunked transfer coding (RFC 9112 7.1), so neither side
// needs the whole body in memory. A handler gets one from
// Responder::stream(); lib/stream's Streamer drives it (buffering, flush
// policy, backpressure, gzip).

#include <boost/beast/http/message.hpp>
#include <functional>
#include <span>

namespace servelab::http {

// Status line and header fields of a response, without a body.
using ResponseHeader = boost::beast::http::response_header<>;

class BodyWriter {
 public:
  // Runs on a network thread when a write is over: true when its bytes were
  // handed to the socket, false when the connection failed (the client went
  // away, reset, or stopped reading for the request timeout). After a false,
  // every later write fails at once: the producer should stop.
  using Done = std::function<void(bool ok)>;

  virtual ~BodyWriter() = default;
  // Sends `data` as one chunk (none when empty); with `last`, then ends the
  // body. Any thread.
  // REQUIRES: the previous write's `done` has run; `data` stays valid until
  // this write's `done` runs; no write after one with `last`.
  virtual void write(std::span<const char> data, bool last, Done done) = 0;
  // Gives up on the body: the connection is closed without the last chunk,
  // so the client sees a truncated response, not a complete one. Any thread;
  // no write after it.
  virtual void abort() = 0;
};

}  // namespace servelab::http
