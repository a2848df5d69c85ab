#include "report/threshold.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "report/run_metrics.h"

namespace servelab::report {
namespace {

constexpr std::string_view kStats =
    "p(N), avg, mean, med, min, max, error_rate, rps, requests, errors or tokens_per_second";

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}
  void skip_space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool eat(std::string_view token) {
    skip_space();
    if (text_.substr(pos_).starts_with(token)) {
      pos_ += token.size();
      return true;
    }
    return false;
  }
  std::string_view word() {
    skip_space();
    const size_t start = pos_;
    while (pos_ < text_.size() &&
           (std::isalpha(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_'))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }
  bool number(double* out) {
    skip_space();
    const char* begin = text_.data() + pos_;
    const auto [end, ec] = std::from_chars(begin, text_.data() + text_.size(), *out);
    if (ec != std::errc() || !std::isfinite(*out)) return false;
    pos_ += static_cast<size_t>(end - begin);
    return true;
  }
  bool at_end() {
    skip_space();
    return pos_ == text_.size();
  }
  std::string_view rest() const { return text_.substr(pos_); }
  size_t column() const { return pos_ + 1; }
  void rewind(size_t column) { pos_ = column - 1; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

Error syntax(std::string_view text, size_t column, std::string_view message) {
  return make_error(fmt::format("threshold \"{}\": column {}: {}", text, column, message));
}

bool compare(double value, Comparison op, double limit) {
  switch (op) {
    case Comparison::lt:
      return value < limit;
    case Comparison::le:
      return value <= limit;
    case Comparison::gt:
      return value > limit;
    case Comparison::ge:
      return value >= limit;
    case Comparison::eq:
      return value == limit;
    case Comparison::ne:
      return value != limit;
  }
  return false;
}

}  // namespace

std::string_view to_string(Comparison op) {
  switch (op) {
    case Comparison::lt:
      return "<";
    case Comparison::le:
      return "<=";
    case Comparison::gt:
      return ">";
    case Comparison::ge:
      return ">=";
    case Comparison::eq:
      return "==";
    case Comparison::ne:
      return "!=";
  }
  return "?";
}

Result<Threshold> parse_threshold(std::string_view text) {
  Threshold t;
  t.text = std::string(text);
  Lexer lx(text);
  if (lx.at_end())
    return syntax(text, 1, fmt::format("empty expression; expected a statistic ({})", kStats));
  size_t col = (lx.skip_space(), lx.column());
  std::string_view w = lx.word();
  // k6's metric names, where they mean the same figure. k6 writes its
  // duration limits in milliseconds without a unit: so may these.
  bool unit_defaults_to_ms = false;
  if (w == "http_req_duration" || w == "http_req_failed" || w == "http_reqs") {
    const std::string_view metric = w;
    if (!lx.eat("."))
      return syntax(text, lx.column(),
                    fmt::format("expected \".\" after \"{}\", as in {}", metric,
                                metric == "http_req_duration" ? "http_req_duration.p(95)<200"
                                : metric == "http_reqs"       ? "http_reqs.rate>100"
                                                              : "http_req_failed.rate<0.01"));
    col = (lx.skip_space(), lx.column());
    w = lx.word();
    if (metric == "http_req_duration") {
      unit_defaults_to_ms = true;  // then read as a latency statistic below
    } else if (metric == "http_req_failed" && w == "rate") {
      w = "error_rate";
    } else if (metric == "http_reqs" && (w == "rate" || w == "count")) {
      w = w == "rate" ? "rps" : "requests";
    } else {
      return syntax(text, col,
                    fmt::format("{} takes {}", metric,
                                metric == "http_reqs" ? "rate or count" : "rate (a fraction)"));
    }
  } else if (w == "latency" || w == "uncorrected" || w == "ttft" || w == "itl" || w == "tpot") {
    if (!lx.eat("."))
      return syntax(text, lx.column(),
                    fmt::format("expected \".\" after \"{}\", as in {}.p(99)<10ms", w, w));
    t.series = w == "latency"       ? Series::latency
               : w == "uncorrected" ? Series::uncorrected
               : w == "ttft"        ? Series::ttft
               : w == "itl"         ? Series::itl
                                    : Series::tpot;
    col = (lx.skip_space(), lx.column());
    w = lx.word();
  }
  if (w == "p") {
    if (!lx.eat("(")) return syntax(text, lx.column(), "expected \"(\" after p, as in p(99)");
    const size_t ncol = (lx.skip_space(), lx.column());
    if (!lx.number(&t.percentile) || t.percentile < 0 || t.percentile > 100)
      return syntax(text, ncol, "expected a percentile from 0 to 100, as in p(99.9)");
    if (!lx.eat(")")) return syntax(text, lx.column(), "expected \")\" after the percentile");
    // Built then moved: assigning a short literal trips GCC 12's false
    // -Wrestrict (GCC bug 105329).
    t.stat = std::string("p");
  } else if (w == "avg" || w == "mean") {
    t.stat = std::string("mean");
  } else if (w == "med") {
    t.stat = std::string("p");
    t.percentile = 50;
  } else if (w == "min" || w == "max" || w == "error_rate" || w == "rps" || w == "requests" ||
             w == "errors" || w == "tokens_per_second") {
    t.stat = std::string(w);
  } else {
    return syntax(text, col,
                  w.empty() ? fmt::format("expected a statistic ({})", kStats)
                            : fmt::format("unknown statistic \"{}\"; expected {}", w, kStats));
  }
  if (unit_defaults_to_ms && !t.latency_stat())
    return syntax(text, col,
                  fmt::format("http_req_duration takes a latency statistic (p(N), avg, med, min "
                              "or max), not {}",
                              t.stat));
  if (!t.latency_stat() && t.series != Series::latency)
    return syntax(text, col,
                  fmt::format("{} is a whole-run figure; it takes no series prefix", t.stat));

  const size_t opcol = (lx.skip_space(), lx.column());
  if (lx.eat("<="))
    t.op = Comparison::le;
  else if (lx.eat(">="))
    t.op = Comparison::ge;
  else if (lx.eat("=="))
    t.op = Comparison::eq;
  else if (lx.eat("!="))
    t.op = Comparison::ne;
  else if (lx.eat("<"))
    t.op = Comparison::lt;
  else if (lx.eat(">"))
    t.op = Comparison::gt;
  else
    return syntax(text, opcol, "expected a comparison: <, <=, >, >=, == or !=");

  const size_t vcol = (lx.skip_space(), lx.column());
  double value = 0;
  if (!lx.number(&value) || value < 0) return syntax(text, vcol, "expected a number >= 0");
  const size_t ucol = (lx.skip_space(), lx.column());
  if (t.latency_stat()) {
    // The units scenario durations accept ("ms" before "m", "m" after "min"
    // cannot clash: a unit follows a number).
    if (lx.eat("us") || lx.eat("µs"))
      t.limit = value;
    else if (lx.eat("ms"))
      t.limit = value * 1e3;
    else if (lx.eat("s"))
      t.limit = value * 1e6;
    else if (lx.eat("m"))
      t.limit = value * 60e6;
    else if (lx.eat("h"))
      t.limit = value * 3600e6;
    else if (unit_defaults_to_ms && lx.at_end())
      t.limit = value * 1e3;
    else
      return syntax(text, ucol,
                    fmt::format("expected a time unit (us, ms, s, m or h) after {}, as in {}ms",
                                value, value));
  } else if (t.stat == "error_rate") {
    t.limit = lx.eat("%") ? value / 100.0 : value;
    if (t.limit > 1) return syntax(text, vcol, "error_rate is at most 100% (or 1 as a fraction)");
  } else {
    t.limit = value;
  }
  if (!lx.at_end())
    return syntax(text, lx.column(), fmt::format("unexpected \"{}\" after the limit", lx.rest()));
  return t;
}

std::string format_value(const Threshold& t, double value) {
  if (t.latency_stat()) return fmt::format("{:.3f} ms", value / 1000.0);
  if (t.stat == "error_rate") return fmt::format("{:.4g}%", value * 100.0);
  return fmt::format("{:.6g}", value);
}

CheckResult evaluate_threshold(const Threshold& t, const RunRecord& r) {
  CheckResult c;
  c.name = t.text;
  c.limit = t.limit;
  const std::string limit_text = fmt::format("{} {}", to_string(t.op), format_value(t, t.limit));
  const load::GenerateStats& g = r.stats.generate;
  const bool generate_series =
      t.series == Series::ttft || t.series == Series::itl || t.series == Series::tpot;
  if ((generate_series || t.stat == "tokens_per_second") && !g.enabled) {
    c.measured = false;
    c.message = fmt::format("{}: not measured: this result has no generate requests; limit {}",
                            t.text, limit_text);
    return c;
  }
  const measure::Histogram& h = t.series == Series::uncorrected ? r.stats.uncorrected
                                : t.series == Series::ttft      ? g.ttft
                                : t.series == Series::itl       ? g.itl
                                : t.series == Series::tpot      ? g.tpot
                                                                : r.stats.latency;
  if (t.stat == "p")
    c.value = static_cast<double>(h.value_at_percentile(t.percentile));
  else if (t.stat == "mean")
    c.value = h.mean();
  else if (t.stat == "min")
    c.value = static_cast<double>(h.min());
  else if (t.stat == "max")
    c.value = static_cast<double>(h.max());
  else
    metric_value(metrics_of(r), t.stat, &c.value);
  if (t.latency_stat() && h.count() == 0) {
    c.measured = false;
    c.message = fmt::format(
        "{}: not measured: {}; limit {}", t.text,
        generate_series ? "no generate answer gave one" : "no request completed", limit_text);
    return c;
  }
  c.pass = compare(c.value, t.op, t.limit);
  c.message =
      fmt::format("{}: measured {}, limit {}", t.text, format_value(t, c.value), limit_text);
  return c;
}

Result<std::vector<CheckResult>> evaluate_thresholds(const std::vector<std::string>& expressions,
                                                     const RunRecord& record) {
  std::vector<CheckResult> out;
  for (const auto& e : expressions) {
    auto t = parse_threshold(e);
    if (!t) return t.error();
    out.push_back(evaluate_threshold(*t, record));
  }
  return out;
}

}  // namespace servelab::report
