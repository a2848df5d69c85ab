// HttpSession's streamed answers (see http_stream.h).

#include "http/http_stream.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_cat.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/write.hpp>
#include <utility>

namespace servelab::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

namespace {

class SessionBodyWriter final : public BodyWriter {
 public:
  SessionBodyWriter(std::shared_ptr<HttpSession> session, asio::any_io_executor work)
      : session_(std::move(session)), work_(std::move(work)) {}
  ~SessionBodyWriter() override {
    if (!ended_.load(std::memory_order_acquire)) session_->stream_abort();
  }
  SessionBodyWriter(const SessionBodyWriter&) = delete;
  SessionBodyWriter& operator=(const SessionBodyWriter&) = delete;

  void write(std::span<const char> data, bool last, Done done) override {
    if (last) ended_.store(true, std::memory_order_release);
    session_->stream_write(data, last, std::move(done));
  }
  void abort() override {
    if (ended_.exchange(true, std::memory_order_acq_rel)) return;
    session_->stream_abort();
  }

 private:
  std::shared_ptr<HttpSession> session_;
  asio::any_io_executor work_;  // outstanding work: join() waits for this body
  std::atomic<bool> ended_{false};
};

}  // namespace

std::shared_ptr<BodyWriter> make_session_body_writer(std::shared_ptr<HttpSession> session,
                                                     asio::any_io_executor work,
                                                     ResponseHeader&& header) {
  session->start_stream(std::move(header));
  return std::make_shared<SessionBodyWriter>(std::move(session), std::move(work));
}

void HttpSession::start_stream(ResponseHeader&& header) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), h = std::move(header)]() mutable {
    auto out = std::make_unique<StreamOut>();
    out->header = bhttp::response<bhttp::empty_body>(std::move(h));
    out->header.version(self->version_);
    out->keep_alive = self->keep_alive_ && !self->stopping_;
    out->header.keep_alive(out->keep_alive);
    out->header.chunked(true);
    out->serializer.emplace(out->header);
    self->stream_out_ = std::move(out);
    self->state_ = State::writing;
    // A client that stops reading must not hold the connection forever.
    self->stream_.expires_after(self->context_.config.request_timeout);
    bhttp::async_write_header(self->stream_, *self->stream_out_->serializer,
                              beast::bind_front_handler(&HttpSession::on_stream_header, self));
  });
}

void HttpSession::on_stream_header(beast::error_code ec, std::size_t /*bytes*/) {
  StreamOut& out = *stream_out_;
  if (ec) {
    out.failed = true;
    close();
  } else {
    out.header_done = true;
  }
  if (out.pending) {
    auto p = std::move(*out.pending);
    out.pending.reset();
    do_stream_write(p.data, p.last, std::move(p.done));
  }
}

void HttpSession::stream_write(std::span<const char> data, bool last, BodyWriter::Done done) {
  asio::post(stream_.get_executor(), [self = shared_from_this(), data, last,
                                      done = std::move(done)]() mutable {
    if (!self->stream_out_) {  // a write after the last one: a producer bug, never a crash
      done(false);
      return;
    }
    StreamOut& out = *self->stream_out_;
    if (!out.header_done && !out.failed) {
      out.pending = StreamOut::Pending{data, last, std::move(done)};
      return;
    }
    self->do_stream_write(data, last, std::move(done));
  });
}

void HttpSession::do_stream_write(std::span<const char> data, bool last, BodyWriter::Done done) {
  StreamOut& out = *stream_out_;
  if (out.failed) {
    done(false);
    return;
  }
  out.done = std::move(done);
  stream_.expires_after(context_.config.request_timeout);
  auto handler =
      beast::bind_front_handler(&HttpSession::on_stream_written, shared_from_this(), last);
  const asio::const_buffer buf(data.data(), data.size());
  // A chunk of size 0 would be the last chunk: an empty piece sends nothing.
  if (data.empty()) {
    if (last) {
      asio::async_write(stream_, bhttp::make_chunk_last(), std::move(handler));
    } else {
      asio::post(stream_.get_executor(),
                 [h = std::move(handler)]() mutable { h(beast::error_code{}, 0); });
    }
  } else if (last) {
    asio::async_write(stream_, beast::buffers_cat(bhttp::make_chunk(buf), bhttp::make_chunk_last()),
                      std::move(handler));
  } else {
    asio::async_write(stream_, bhttp::make_chunk(buf), std::move(handler));
  }
}

void HttpSession::on_stream_written(bool last, beast::error_code ec, std::size_t /*bytes*/) {
  BodyWriter::Done done = std::move(stream_out_->done);
  if (ec) {
    stream_out_->failed = true;
    close();
    done(false);
    return;
  }
  if (last) {
    const bool keep_alive = stream_out_->keep_alive && keep_alive_;
    stream_out_.reset();
    stop_watch();
    if (!keep_alive || stopping_) {
      close();
    } else {
      wait_for_request();
    }
  }
  done(true);
}

void HttpSession::stream_abort() {
  asio::post(stream_.get_executor(), [self = shared_from_this()] {
    if (!self->stream_out_) return;  // already finished
    self->stream_out_->failed = true;
    // Closing the socket (not just shutting down the sending side) makes the
    // truncation visible: no last chunk ever comes.
    self->state_ = State::closing;
    beast::error_code ec;
    self->stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    self->stream_.cancel();
  });
}

}  // namespace servelab::http
