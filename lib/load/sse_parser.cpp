#include "load/sse_parser.h"

#include <cstring>

namespace servelab::load {

SseParser::SseParser(size_t reserve) {
  line_.reserve(reserve);
  data_.reserve(reserve);
  type_.reserve(32);
  id_.reserve(64);
}

void SseParser::reset() noexcept {
  line_.clear();
  data_.clear();
  type_.clear();
  id_.clear();
  pending_cr_ = false;
  bom_checked_ = false;
  bom_seen_ = 0;
  has_data_ = false;
  events_ = 0;
}

bool SseParser::finish_clean() const noexcept {
  return line_.empty() && !has_data_ && type_.empty();
}

void SseParser::feed(std::string_view bytes, SseSink& sink) {
  if (!bom_checked_) {
    // A leading BOM is skipped; it may itself be split across chunks.
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    while (!bytes.empty() && bom_seen_ < kBom.size() && bytes.front() == kBom[bom_seen_]) {
      ++bom_seen_;
      bytes.remove_prefix(1);
    }
    if (bom_seen_ < kBom.size() && bytes.empty()) return;  // a BOM prefix so far: wait
    bom_checked_ = true;
    // A partial BOM followed by something else was content after all.
    if (bom_seen_ < kBom.size() && bom_seen_ > 0) feed(kBom.substr(0, bom_seen_), sink);
  }
  while (!bytes.empty()) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
    }
    const char* begin = bytes.data();
    const char* end = begin + bytes.size();
    const char* p = begin;
    while (p != end && *p != '\n' && *p != '\r') ++p;
    if (p == end) {
      line_.append(begin, bytes.size());
      return;
    }
    const std::string_view piece(begin, static_cast<size_t>(p - begin));
    if (line_.empty()) {
      line(piece, sink);  // the whole line is in this chunk: no copy
    } else {
      line_.append(piece);
      line(line_, sink);
      line_.clear();
    }
    pending_cr_ = *p == '\r';
    bytes.remove_prefix(static_cast<size_t>(p - begin) + 1);
  }
}

void SseParser::line(std::string_view text, SseSink& sink) {
  if (text.empty()) {  // dispatch
    if (has_data_) {
      std::string_view data = data_;
      if (!data.empty() && data.back() == '\n') data.remove_suffix(1);
      ++events_;
      sink.on_event(SseEvent{type_.empty() ? std::string_view("message") : std::string_view(type_),
                             data, id_});
    }
    data_.clear();
    type_.clear();
    has_data_ = false;
    return;
  }
  if (text.front() == ':') return;  // comment
  const size_t colon = text.find(':');
  std::string_view field = text.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = text.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    data_.append(value);
    data_.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_.assign(value);
  }
  // "retry" and unknown fields: ignored (the generator does not reconnect).
}

}  // namespace servelab::load
