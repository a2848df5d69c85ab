#pragma once
// gzip (RFC 1952) through zlib, for response bodies: one-shot for a body
// built whole, incremental (with flushes between pieces) for a stream.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace servelab::stream {

// True when an Accept-Encoding value (RFC 9110 12.5.3) accepts gzip: a
// `gzip`, `x-gzip` or `*` coding with q > 0.
bool accepts_gzip(std::string_view accept_encoding);

// The gzip of `body` when it is worth sending: body over `min_bytes` and the
// compressed size at least `min_saving` (a fraction) smaller; else nullopt.
std::optional<std::string> gzip_if_worth(std::string_view body, size_t min_bytes,
                                         double min_saving);

// Decompresses a whole gzip member (tests, tools). nullopt when corrupt.
std::optional<std::string> gunzip(std::string_view data);

// An incremental gzip stream. Small memory: a 1 KB window and memLevel 3
// (about 8 KB of zlib state), because a server holds one per streamed
// response and SSE events repeat within a few hundred bytes.
class GzipWriter {
 public:
  GzipWriter();
  ~GzipWriter();
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  // Compresses `in`, appending whatever output zlib releases to `out`.
  void write(std::string_view in, std::string& out);
  // Appends everything written so far, byte-aligned (Z_SYNC_FLUSH), so the
  // client can decode it now.
  void flush(std::string& out);
  // Appends the end of the gzip member. No write after it.
  void finish(std::string& out);
  // Stops compressing (stored blocks from here on). Call after flush().
  void disable_compression(std::string& out);

  size_t in_bytes() const { return in_bytes_; }
  size_t out_bytes() const { return out_bytes_; }

 private:
  void run(int flush, std::string& out);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  size_t in_bytes_ = 0;
  size_t out_bytes_ = 0;
};

}  // namespace servelab::stream
