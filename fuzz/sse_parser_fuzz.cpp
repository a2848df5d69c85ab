// The text/event-stream parser (load/sse_parser.h). The input is fed once
// whole and once in pieces whose sizes come from the input itself: the
// events must not depend on where the network split the bytes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "load/sse_parser.h"

namespace {

using Event = std::tuple<std::string, std::string, std::string>;

struct Collect final : servelab::load::SseSink {
  std::vector<Event> events;
  void on_event(const servelab::load::SseEvent& e) override {
    events.emplace_back(std::string(e.type), std::string(e.data), std::string(e.id));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);

  servelab::load::SseParser whole(16);
  Collect a;
  whole.feed(bytes, a);

  servelab::load::SseParser pieces(16);
  Collect b;
  size_t at = 0;
  size_t turn = 0;
  while (at < bytes.size()) {
    // Piece sizes 1..16, taken from the bytes themselves.
    const size_t n = 1 + static_cast<size_t>(static_cast<unsigned char>(bytes[turn++ % size])) % 16;
    pieces.feed(bytes.substr(at, n), b);
    at += n;
  }
  if (a.events != b.events || whole.finish_clean() != pieces.finish_clean() ||
      whole.events() != a.events.size()) {
    std::abort();
  }
  // Reset, then the same stream again gives the same events.
  whole.reset();
  Collect c;
  whole.feed(bytes, c);
  if (c.events != a.events) std::abort();
  return 0;
}
