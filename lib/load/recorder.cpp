#include "load/recorder.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>

namespace servelab::load {

bool classify(int curl_code, int status, ErrorClass* out) noexcept {
  switch (static_cast<CURLcode>(curl_code)) {
    case CURLE_OK:
      if (status >= 500) {
        *out = ErrorClass::http_5xx;
        return true;
      }
      if (status >= 400) {
        *out = ErrorClass::http_4xx;
        return true;
      }
      return false;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      *out = ErrorClass::connect;
      return true;
    case CURLE_OPERATION_TIMEDOUT:
      *out = ErrorClass::timeout;
      return true;
    default:  // GOT_NOTHING, RECV_ERROR, SEND_ERROR, PARTIAL_FILE, WEIRD_SERVER_REPLY, ...
      *out = ErrorClass::protocol;
      return true;
  }
}

size_t Recorder::bucket_seconds_for(size_t timeline_seconds) noexcept {
  return std::max<size_t>(1, (timeline_seconds + kMaxTimelineBuckets - 1) / kMaxTimelineBuckets);
}

namespace {
size_t bucket_count(size_t timeline_seconds) {
  const size_t w = Recorder::bucket_seconds_for(timeline_seconds);
  return std::max<size_t>(1, (timeline_seconds + w - 1) / w);
}
}  // namespace

Recorder::Recorder(size_t mix_entries, size_t timeline_seconds)
    : mix_requests_(mix_entries, 0),
      mix_errors_(mix_entries, 0),
      bucket_seconds_(bucket_seconds_for(timeline_seconds)),
      second_requests_(bucket_count(timeline_seconds), 0),
      second_errors_(bucket_count(timeline_seconds), 0) {
  second_latency_.reserve(second_requests_.size());
  for (size_t i = 0; i < second_requests_.size(); ++i) {
    second_latency_.emplace_back(kSecondHighest, kSecondDigits);
  }
}

void Recorder::record(const Sample& s) noexcept {
  ++counters_.requests;
  counters_.bytes_in += s.bytes_in;
  counters_.bytes_out += s.bytes_out;
  counters_.connections_opened += s.connects;
  if (s.failed) {
    ++counters_.errors[static_cast<size_t>(s.error)];
  } else {
    ++counters_.ok;
  }
  if (s.status >= kFirstStatus && s.status < kFirstStatus + kStatusCount) {
    ++status_[static_cast<size_t>(s.status - kFirstStatus)];
  }
  if (s.mix_index < mix_requests_.size()) {
    ++mix_requests_[s.mix_index];
    if (s.failed) ++mix_errors_[s.mix_index];
  }
  // Latency is recorded for every transfer that got an HTTP response
  // (including 4xx/5xx); transport errors have no response time to record
  // and are reported by class instead.
  const bool responded = s.status != 0;
  if (responded) {
    latency_.record(s.latency.count());
    uncorrected_.record(s.uncorrected.count());
  }
  if (s.at.count() >= 0) {
    size_t sec = static_cast<size_t>(s.at.count() / 1'000'000) / bucket_seconds_;
    sec = std::min(sec, second_requests_.size() - 1);
    ++second_requests_[sec];
    if (s.failed) ++second_errors_[sec];
    if (responded) second_latency_[sec].record(s.latency.count());
    timeline_touched_ = true;
  }
}

void Recorder::reset() noexcept {
  latency_.reset();
  uncorrected_.reset();
  counters_ = Counters{};
  status_.fill(0);
  generate_.reset();
  std::fill(mix_requests_.begin(), mix_requests_.end(), 0);
  std::fill(mix_errors_.begin(), mix_errors_.end(), 0);
  if (timeline_touched_) {
    for (auto& h : second_latency_) h.reset();
    std::fill(second_requests_.begin(), second_requests_.end(), 0);
    std::fill(second_errors_.begin(), second_errors_.end(), 0);
    timeline_touched_ = false;
  }
}

uint64_t Recorder::status_count(int status) const noexcept {
  if (status < kFirstStatus || status >= kFirstStatus + kStatusCount) return 0;
  return status_[static_cast<size_t>(status - kFirstStatus)];
}

Result<RunStats> Recorder::merge(const std::vector<const Recorder*>& recorders,
                                 const std::vector<std::string>& mix_names,
                                 std::chrono::microseconds measured) {
  RunStats out;
  out.measured = measured;
  out.mix.resize(mix_names.size());
  for (size_t i = 0; i < mix_names.size(); ++i) out.mix[i].name = mix_names[i];
  if (recorders.empty()) return out;

  const size_t buckets = recorders.front()->second_requests_.size();
  const size_t width = recorders.front()->bucket_seconds_;
  for (const Recorder* r : recorders) {
    if (r->mix_requests_.size() != mix_names.size() || r->second_requests_.size() != buckets ||
        r->bucket_seconds_ != width) {
      return make_error("recorder layouts differ (mix entries or timeline length)");
    }
  }

  // Whole buckets of the measured phase, rounded up; at least one when
  // anything was measured.
  const int64_t us = std::max<int64_t>(measured.count(), 0);
  const auto bucket_us = static_cast<int64_t>(width) * 1'000'000;
  size_t timeline_len = static_cast<size_t>((us + bucket_us - 1) / bucket_us);
  timeline_len = std::min(timeline_len, buckets);

  std::vector<measure::Histogram> per_second(timeline_len,
                                             measure::Histogram(kSecondHighest, kSecondDigits));
  out.timeline.resize(timeline_len);
  for (const Recorder* r : recorders) {
    if (auto st = out.latency.merge(r->latency_); !st) return st.error();
    if (auto st = out.uncorrected.merge(r->uncorrected_); !st) return st.error();
    out.counters.add(r->counters_);
    if (auto st = out.generate.merge(r->generate_); !st) return st.error();
    for (int i = 0; i < kStatusCount; ++i) {
      const uint64_t n = r->status_[static_cast<size_t>(i)];
      if (n != 0) out.status_codes[kFirstStatus + i] += n;
    }
    for (size_t i = 0; i < mix_names.size(); ++i) {
      out.mix[i].requests += r->mix_requests_[i];
      out.mix[i].errors += r->mix_errors_[i];
    }
    for (size_t s = 0; s < timeline_len; ++s) {
      if (auto st = per_second[s].merge(r->second_latency_[s]); !st) return st.error();
      out.timeline[s].requests += r->second_requests_[s];
      out.timeline[s].errors += r->second_errors_[s];
    }
  }
  for (size_t s = 0; s < timeline_len; ++s) {
    TimelinePoint& p = out.timeline[s];
    p.second = static_cast<double>(s * width);
    if (per_second[s].count() > 0) {
      p.p50_us = per_second[s].value_at_percentile(50);
      p.p99_us = per_second[s].value_at_percentile(99);
      p.max_us = per_second[s].max();
    }
  }
  return out;
}

}  // namespace servelab::load
