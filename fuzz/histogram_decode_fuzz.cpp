// The histogram text encoding of result files (measure/histogram.h,
// Histogram::decode: base64 of zlib of a run-length encoding of the counts).
// A decoded histogram answers every query and round-trips through encode().

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "measure/histogram.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using servelab::measure::Histogram;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto h = Histogram::decode(text);
  if (!h.ok()) return 0;
  (void)h->count();
  (void)h->min();
  (void)h->max();
  (void)h->mean();
  (void)h->stddev();
  for (double p : {0.0, 50.0, 99.0, 99.9, 100.0}) (void)h->value_at_percentile(p);
  (void)h->percentile_spectrum();
  auto back = Histogram::decode(h->encode());
  if (!back.ok() || !(*back == *h)) std::abort();
  Histogram merged(h->highest(), h->significant_digits());
  if (!merged.merge(*h).ok()) std::abort();
  return 0;
}
