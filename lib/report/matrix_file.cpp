#include "report/matrix_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>

#include "report/result_json.h"

namespace servelab::report {
namespace json = boost::json;

std::string to_json_text(const MatrixFile& m) {
  json::array results;
  for (const auto& r : m.results) results.push_back(json::string(r));
  json::array failed;
  for (const auto& f : m.failed) failed.push_back({{"toggles", f.label}, {"error", f.error}});
  json::object o{{"servelab_matrix", MatrixFile::kFormatVersion},
                 {"scenario", m.scenario},
                 {"mode", m.mode},
                 {"repeat", m.repeat},
                 {"results", std::move(results)},
                 {"failed", std::move(failed)}};
  return json::serialize(o) + "\n";
}

Result<MatrixFile> parse_matrix_json(const std::string& text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return make_error("matrix: not a JSON object");
  const auto& o = doc.as_object();
  const auto* v = o.if_contains("servelab_matrix");
  if (v == nullptr || !v->is_int64() || v->as_int64() != MatrixFile::kFormatVersion)
    return make_error("matrix: missing or unsupported servelab_matrix version");
  MatrixFile m;
  if (const auto* s = o.if_contains("scenario"); s && s->is_string()) m.scenario = s->as_string();
  if (const auto* s = o.if_contains("mode"); s && s->is_string()) m.mode = s->as_string();
  if (const auto* s = o.if_contains("repeat"); s && s->is_int64()) m.repeat = static_cast<int>(s->as_int64());
  if (const auto* a = o.if_contains("results"); a && a->is_array())
    for (const auto& e : a->as_array())
      if (e.is_string()) m.results.emplace_back(e.as_string());
  if (const auto* a = o.if_contains("failed"); a && a->is_array())
    for (const auto& e : a->as_array()) {
      if (!e.is_object()) continue;
      FailedRun f;
      if (const auto* s = e.as_object().if_contains("toggles"); s && s->is_string()) f.label = s->as_string();
      if (const auto* s = e.as_object().if_contains("error"); s && s->is_string()) f.error = s->as_string();
      m.failed.push_back(std::move(f));
    }
  return m;
}

Result<std::vector<RunRecord>> read_results(const std::vector<std::string>& paths, std::vector<FailedRun>* failed) {
  std::vector<RunRecord> out;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    if (text.find("\"servelab_matrix\"") != std::string::npos) {
      auto m = parse_matrix_json(text);
      if (!m) return make_error(path + ": " + m.error().message);
      const auto dir = std::filesystem::path(path).parent_path();
      for (const auto& r : m->results) {
        auto rec = read_result_file((dir / r).string());
        if (!rec) return rec.error();
        out.push_back(std::move(*rec));
      }
      if (failed) failed->insert(failed->end(), m->failed.begin(), m->failed.end());
      continue;
    }
    auto rec = parse_result_json(text);
    if (!rec) return make_error(path + ": " + rec.error().message);
    out.push_back(std::move(*rec));
  }
  return out;
}

}  // namespace servelab::report
