#include "load/generate_tracker.h"

#include <algorithm>
#include <boost/json/value.hpp>
#include <limits>

namespace servelab::load {
namespace json = boost::json;
namespace {

constexpr size_t kArenaBytes = 16 * 1024;  // one completion chunk is a few hundred bytes
constexpr size_t kParserTemp = 4 * 1024;   // Boost.JSON's parser stack
constexpr size_t kBodyReserve = 16 * 1024;

int64_t micros(std::chrono::steady_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

// usage.completion_tokens, or -1.
int64_t completion_tokens(const json::object& o) {
  const json::value* usage = o.if_contains("usage");
  if (usage == nullptr || !usage->is_object()) return -1;
  const json::value* n = usage->as_object().if_contains("completion_tokens");
  if (n == nullptr) return -1;
  if (n->is_int64() && n->as_int64() >= 0) return n->as_int64();
  if (n->is_uint64()) return static_cast<int64_t>(std::min<uint64_t>(n->as_uint64(), INT64_MAX));
  return -1;
}

// The text a choice carries: "text" (completions) or "delta.content" (chat).
std::string_view choice_text(const json::object& choice) {
  if (const json::value* t = choice.if_contains("text"); t && t->is_string()) return t->as_string();
  if (const json::value* d = choice.if_contains("delta"); d && d->is_object()) {
    if (const json::value* c = d->as_object().if_contains("content"); c && c->is_string())
      return c->as_string();
  }
  if (const json::value* m = choice.if_contains("message"); m && m->is_object()) {
    if (const json::value* c = m->as_object().if_contains("content"); c && c->is_string())
      return c->as_string();
  }
  return {};
}

// Tokens listed by choices[0].logprobs.tokens, or 0.
uint64_t logprob_tokens(const json::object& choice) {
  const json::value* lp = choice.if_contains("logprobs");
  if (lp == nullptr || !lp->is_object()) return 0;
  const json::value* tokens = lp->as_object().if_contains("tokens");
  return tokens != nullptr && tokens->is_array() ? tokens->as_array().size() : 0;
}

}  // namespace

void record_outcome(GenerateStats& stats, const GenerateOutcome& o, bool request_failed) noexcept {
  if (o.failed) ++stats.issues[static_cast<size_t>(o.failure)];
  if (request_failed) return;
  ++stats.requests;
  if (o.streamed) ++stats.streamed;
  if (o.usage_mismatch) ++stats.issues[static_cast<size_t>(GenerateIssue::usage_mismatch)];
  if (o.no_usage) {
    ++stats.issues[static_cast<size_t>(GenerateIssue::no_usage)];
  } else {
    stats.output_tokens += o.tokens;
    stats.tokens.record(static_cast<int64_t>(o.tokens));
  }
  if (o.ttft_us >= 0) {
    stats.ttft.record(o.ttft_us);
  } else if (!o.no_usage) {
    ++stats.issues[static_cast<size_t>(GenerateIssue::no_tokens)];
  }
  if (o.tpot_us >= 0) stats.tpot.record(o.tpot_us);
  for (uint32_t g : o.gaps) stats.itl.record(static_cast<int64_t>(g));
  stats.issues[static_cast<size_t>(GenerateIssue::itl_dropped)] += o.gaps_dropped;
}

GenerateTracker::GenerateTracker(size_t max_gaps)
    : gaps_(max_gaps),
      arena_(kArenaBytes),
      parser_temp_(kParserTemp),
      resource_(arena_.data(), arena_.size()),
      parser_(json::storage_ptr(), json::parse_options(), parser_temp_.data(),
              parser_temp_.size()) {
  body_.reserve(kBodyReserve);
}

void GenerateTracker::begin(Clock::time_point intended) noexcept {
  sse_.reset();
  body_.clear();
  gap_count_ = 0;
  gaps_dropped_ = 0;
  mode_ = Mode::unknown;
  intended_ = intended;
  counted_ = 0;
  usage_tokens_ = -1;
  done_ = false;
  failed_ = false;
  failure_ = GenerateIssue::kCount;
}

void GenerateTracker::fail(GenerateIssue issue) noexcept {
  if (failed_) return;  // the first problem is the one reported
  failed_ = true;
  failure_ = issue;
}

void GenerateTracker::on_body(std::string_view bytes, Clock::time_point now) {
  now_ = now;
  if (mode_ == Mode::unknown) {
    // A JSON completion starts with '{'; an event stream with a field name,
    // ':' (a comment) or a blank line. Leading whitespace decides nothing.
    const size_t first = bytes.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
      if (body_.size() + bytes.size() <= kMaxBody) body_.append(bytes);
      return;
    }
    mode_ = bytes[first] == '{' ? Mode::json : Mode::sse;
    if (mode_ == Mode::sse && !body_.empty()) {
      sse_.feed(body_, *this);  // the whitespace held back
      body_.clear();
    }
  }
  if (mode_ == Mode::sse) {
    sse_.feed(bytes, *this);
    return;
  }
  if (body_.size() + bytes.size() > kMaxBody) {
    fail(GenerateIssue::bad_body);
    return;
  }
  body_.append(bytes);
}

bool GenerateTracker::parse(std::string_view text) {
  resource_.release();
  parser_.reset(json::storage_ptr(&resource_));
  json::error_code ec;
  parser_.write(text.data(), text.size(), ec);
  return !ec;
}

void GenerateTracker::add_tokens(uint64_t k) {
  if (k == 0) return;
  uint64_t zero_gaps = k - 1;
  if (counted_ == 0) {
    first_token_ = now_;
  } else {
    const int64_t gap = std::max<int64_t>(0, micros(now_ - last_token_));
    const auto g =
        static_cast<uint32_t>(std::min<int64_t>(gap, std::numeric_limits<uint32_t>::max()));
    if (gap_count_ < gaps_.size())
      gaps_[gap_count_++] = g;
    else
      ++gaps_dropped_;
  }
  const size_t room = gaps_.size() - gap_count_;
  const size_t zeros = static_cast<size_t>(std::min<uint64_t>(zero_gaps, room));
  std::fill_n(gaps_.begin() + static_cast<std::ptrdiff_t>(gap_count_), zeros, 0u);
  gap_count_ += zeros;
  gaps_dropped_ += zero_gaps - zeros;
  last_token_ = now_;
  counted_ += k;
}

void GenerateTracker::on_event(const SseEvent& event) {
  if (done_) return;  // anything after [DONE] is not part of the answer
  if (event.data == "[DONE]") {
    done_ = true;
    return;
  }
  if (!parse(event.data)) {
    fail(GenerateIssue::bad_event);
    return;
  }
  const json::value v = parser_.release();
  const json::object* o = v.if_object();
  if (o == nullptr) {
    fail(GenerateIssue::bad_event);
    return;
  }
  if (o->contains("error")) {
    fail(GenerateIssue::error_event);
    return;
  }
  bool has_text = false;
  uint64_t listed = 0;
  if (const json::value* choices = o->if_contains("choices"); choices && choices->is_array()) {
    for (const json::value& c : choices->as_array()) {
      if (!c.is_object()) continue;
      if (!choice_text(c.as_object()).empty()) {
        has_text = true;
        listed = std::max(listed, logprob_tokens(c.as_object()));
      }
    }
  }
  const int64_t usage = completion_tokens(*o);
  if (has_text) {
    uint64_t k = listed > 0 ? listed : 1;
    if (usage > static_cast<int64_t>(counted_)) k = static_cast<uint64_t>(usage) - counted_;
    add_tokens(k);
  }
  if (usage >= 0) usage_tokens_ = usage;
}

GenerateOutcome GenerateTracker::finish(Clock::time_point now, bool answered_ok) {
  GenerateOutcome out;
  out.e2e_us = std::max<int64_t>(0, micros(now - intended_));
  out.streamed = mode_ == Mode::sse;
  if (!answered_ok) return out;
  if (mode_ == Mode::sse) {
    if (!done_) fail(GenerateIssue::missing_done);
    out.tokens = usage_tokens_ >= 0 ? static_cast<uint64_t>(usage_tokens_) : counted_;
    out.usage_mismatch = usage_tokens_ >= 0 && static_cast<uint64_t>(usage_tokens_) != counted_;
    if (counted_ > 0) {
      out.ttft_us = std::max<int64_t>(0, micros(first_token_ - intended_));
      if (out.tokens >= 2)
        out.tpot_us = (out.e2e_us - out.ttft_us) / static_cast<int64_t>(out.tokens - 1);
    }
    out.gaps = std::span<const uint32_t>(gaps_.data(), gap_count_);
    out.gaps_dropped = gaps_dropped_;
  } else if (!failed_) {
    // A non-streamed completion (or an empty body, which is not one).
    if (mode_ != Mode::json || !parse(body_)) {
      fail(GenerateIssue::bad_body);
    } else {
      const json::value v = parser_.release();
      const json::object* o = v.if_object();
      if (o == nullptr || (!o->contains("choices") && !o->contains("error"))) {
        fail(GenerateIssue::bad_body);
      } else if (o->contains("error")) {
        fail(GenerateIssue::error_event);
      } else {
        const int64_t usage = completion_tokens(*o);
        out.no_usage = usage < 0;
        out.tokens = usage < 0 ? 0 : static_cast<uint64_t>(usage);
        if (out.tokens > 0) out.ttft_us = out.e2e_us;
      }
    }
  }
  out.failed = failed_;
  out.failure = failure_;
  return out;
}

}  // namespace servelab::load
