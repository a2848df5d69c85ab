#include "stream/gzip.h"

#include <zlib.h>

#include <new>
#include <stdexcept>
#include <string>

#include "common/headers.h"

namespace servelab::stream {

namespace {

constexpr int kGzipWindowBits = 10 + 16;  // 1 KB window; +16: gzip wrapper, not zlib
constexpr int kMemLevel = 3;
constexpr int kLevel = 6;  // zlib's default speed/size trade

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

bool accepts_gzip(std::string_view value) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    const size_t semi = item.find(';');
    const std::string_view coding = trim(item.substr(0, semi));
    if (!iequals(coding, "gzip") && !iequals(coding, "x-gzip") && coding != "*") continue;
    double q = 1.0;
    if (semi != std::string_view::npos) {
      std::string_view param = trim(item.substr(semi + 1));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        param.remove_prefix(2);
        const std::string text(param);
        try {
          q = std::stod(text);
        } catch (const std::exception&) {
          q = 0.0;  // unreadable weight: do not assume acceptance
        }
      }
    }
    if (q > 0.0) return true;
  }
  return false;
}

struct GzipWriter::Impl {
  z_stream z{};
};

GzipWriter::GzipWriter() : impl_(std::make_unique<Impl>()) {
  if (deflateInit2(&impl_->z, kLevel, Z_DEFLATED, kGzipWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) !=
      Z_OK)
    throw std::bad_alloc();
}

GzipWriter::~GzipWriter() { deflateEnd(&impl_->z); }

void GzipWriter::run(int flush, std::string& out) {
  z_stream& z = impl_->z;
  for (int guard = 0; guard < 1 << 20; ++guard) {  // bounded: each turn makes progress or ends
    const size_t before = out.size();
    const size_t room = deflateBound(&z, z.avail_in) + 64;
    out.resize(before + room);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    z.avail_out = static_cast<uInt>(room);
    const int rc = deflate(&z, flush);
    out.resize(before + room - z.avail_out);
    out_bytes_ += room - z.avail_out;
    if (rc == Z_STREAM_END) return;
    if (z.avail_in == 0 && z.avail_out != 0) return;  // all consumed, output drained
    if (rc != Z_OK && rc != Z_BUF_ERROR) return;
  }
}

void GzipWriter::write(std::string_view in, std::string& out) {
  z_stream& z = impl_->z;
  z.next_in =
      reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));  // zlib's API is not const-correct
  z.avail_in = static_cast<uInt>(in.size());
  in_bytes_ += in.size();
  run(Z_NO_FLUSH, out);
}

void GzipWriter::flush(std::string& out) { run(Z_SYNC_FLUSH, out); }
void GzipWriter::finish(std::string& out) { run(Z_FINISH, out); }

void GzipWriter::disable_compression(std::string& out) {
  z_stream& z = impl_->z;
  const size_t before = out.size();
  const size_t room = 256;
  out.resize(before + room);
  z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
  z.avail_out = static_cast<uInt>(room);
  deflateParams(&z, Z_NO_COMPRESSION, Z_DEFAULT_STRATEGY);
  out.resize(before + room - z.avail_out);
  out_bytes_ += room - z.avail_out;
}

std::optional<std::string> gzip_if_worth(std::string_view body, size_t min_bytes,
                                         double min_saving) {
  if (body.size() <= min_bytes) return std::nullopt;
  GzipWriter gz;
  std::string out;
  out.reserve(body.size() / 2);
  gz.write(body, out);
  gz.finish(out);
  if (static_cast<double>(out.size()) > (1.0 - min_saving) * static_cast<double>(body.size()))
    return std::nullopt;
  return out;
}

std::optional<std::string> gunzip(std::string_view data) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) return std::nullopt;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  std::string out;
  int rc = Z_OK;
  for (int guard = 0; guard < 1 << 20 && rc == Z_OK; ++guard) {
    const size_t before = out.size();
    out.resize(before + 16 * 1024);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
    z.avail_out = 16 * 1024;
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // input ended without a gzip trailer
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return std::nullopt;
  return out;
}

}  // namespace servelab::stream
