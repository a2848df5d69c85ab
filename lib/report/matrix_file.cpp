#include "report/matrix_file.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "report/json_fields.h"
#include "report/result_json.h"

namespace servelab::report {
namespace json = boost::json;

template <>
struct Fields<FailedRun> {
  template <class Io, class F>
  static void each(Io& io, F& f) {
    io("toggles", f.label);
    io("error", f.error);
  }
};

template <>
struct Fields<MatrixFile> {
  template <class Io, class M>
  static void each(Io& io, M& m) {
    io.required("servelab_matrix", MatrixFile::kFormatVersion,
                FormatVersion{MatrixFile::kFormatVersion});
    io("scenario", m.scenario);
    io("mode", m.mode);
    io("repeat", m.repeat);
    io("results", m.results);
    io("failed", m.failed);
  }
};

std::string to_json_text(const MatrixFile& m) {
  return json::serialize(JsonWriter::to_json(m)) + "\n";
}

Result<MatrixFile> parse_matrix_json(const std::string& text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec || !doc.is_object()) return make_error("matrix: not a JSON object");
  MatrixFile m;
  if (auto st = JsonReader::read_value(doc, m, ""); !st)
    return make_error("matrix: " + st.error().message);
  return m;
}

Result<std::vector<RunRecord>> read_results(const std::vector<std::string>& paths,
                                            std::vector<FailedRun>* failed) {
  std::vector<RunRecord> out;
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error("cannot read " + path);
    std::ostringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    // A matrix file is one whose top-level object has the matrix version key
    // (a result whose scenario is named "servelab_matrix" is still a result).
    boost::system::error_code ec;
    const boost::json::value doc = boost::json::parse(text, ec);
    const bool is_matrix =
        !ec && doc.is_object() && doc.as_object().if_contains("servelab_matrix") != nullptr;
    if (is_matrix) {
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
