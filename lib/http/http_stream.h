#pragma once
// Internal to lib/http: the session side of a streamed answer
// (Responder::stream()). The body goes out with the chunked transfer coding,
// one chunk per BodyWriter::write, each write on the session's strand.

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/serializer.hpp>
#include <memory>
#include <optional>

#include "http/body_writer.h"
#include "http/http_session.h"

namespace servelab::http {

struct HttpSession::StreamOut {
  boost::beast::http::response<boost::beast::http::empty_body> header;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::empty_body>> serializer;
  bool keep_alive = false;
  bool header_done = false;
  bool failed = false;    // the connection failed: every later write fails at once
  BodyWriter::Done done;  // of the write in flight
  // A write that arrived while the header was still being written.
  struct Pending {
    std::span<const char> data;
    bool last = false;
    BodyWriter::Done done;
  };
  std::optional<Pending> pending;
};

// The writer Responder::stream() hands out; `work` keeps the server's
// io_context running until the body is finished or aborted.
std::shared_ptr<BodyWriter> make_session_body_writer(std::shared_ptr<HttpSession> session,
                                                     boost::asio::any_io_executor work,
                                                     ResponseHeader&& header);

}  // namespace servelab::http
