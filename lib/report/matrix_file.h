#pragma once
// matrix.json: what `servelab matrix` ran, so that report/compare/gate can
// take a whole matrix as one argument. It lists the combinations' result
// files (relative to the matrix file's folder) and the ones that failed.

#include <string>
#include <vector>

#include "common/result.h"
#include "report/ablation.h"
#include "report/run_record.h"

namespace servelab::report {

struct MatrixFile {
  static constexpr int kFormatVersion = 1;
  std::string scenario;
  std::string mode;  // "one-at-a-time" or "full"
  int repeat = 1;
  std::vector<std::string> results;  // result.json paths, relative to the matrix folder
  std::vector<FailedRun> failed;
};

std::string to_json_text(const MatrixFile& matrix);
Result<MatrixFile> parse_matrix_json(const std::string& text);

// Reads result files and matrix files (expanded into their results) in the
// order given; failed matrix combinations are appended to *failed.
Result<std::vector<RunRecord>> read_results(const std::vector<std::string>& paths,
                                            std::vector<FailedRun>* failed = nullptr);

}  // namespace servelab::report
