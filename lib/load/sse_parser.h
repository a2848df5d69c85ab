#pragma once
// Incremental parser for text/event-stream (WHATWG HTML "Server-sent events",
// section 9.2.6 "Interpreting an event stream"). Bytes arrive in network
// chunks split anywhere (inside a field name, between CR and LF, inside a
// multi-byte character); feed() keeps what it has not finished and hands
// each complete event to a sink.
//
// Rules implemented: lines end with CRLF, LF or CR; a leading UTF-8 BOM is
// skipped; a line starting with ':' is a comment; "field:value" drops one
// space after the colon, a line without colon is a field with empty value;
// `data` lines are joined with '\n'; `event` sets the type; `id` (without
// NUL) sets the last event id; `retry` is parsed but unused here; unknown
// fields are ignored; an empty line dispatches the event unless its data is
// empty. An unterminated last event at end of stream is discarded (as the
// spec says), which finish() reports.
//
// Memory: three strings whose capacity is kept across events, so after the
// largest event has been seen once, parsing allocates nothing.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace servelab::load {

struct SseEvent {
  std::string_view type;  // "message" when no event field was given
  std::string_view data;  // data lines joined by '\n' (no trailing '\n')
  std::string_view id;    // last event id so far
};

class SseSink {
 public:
  virtual void on_event(const SseEvent& event) = 0;

 protected:
  ~SseSink() = default;
};

class SseParser {
 public:
  // `reserve`: initial capacity of the line and data buffers, in bytes.
  explicit SseParser(size_t reserve = 4096);

  // Parses `bytes`, calling sink.on_event() for each event completed by them.
  void feed(std::string_view bytes, SseSink& sink);
  // End of stream: true when nothing was left unfinished (no partial line,
  // no data waiting for its blank line).
  bool finish_clean() const noexcept;
  // Back to the start of a stream (capacity kept).
  void reset() noexcept;

  uint64_t events() const noexcept { return events_; }  // dispatched since reset()

 private:
  void line(std::string_view text, SseSink& sink);

  std::string line_;         // a line not yet terminated
  std::string data_;         // data of the event being built
  std::string type_;         // its event type ("" = "message")
  std::string id_;           // last event id
  bool pending_cr_ = false;  // the last byte was CR: a following LF belongs to it
  bool bom_checked_ = false;
  size_t bom_seen_ = 0;    // BOM bytes matched at the start
  bool has_data_ = false;  // a data field was seen for this event
  uint64_t events_ = 0;
};

}  // namespace servelab::load
