// The result file reader (report/result_json.h): JSON text -> RunRecord,
// and a record it accepts written back and read again.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "report/result_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto record = servelab::report::parse_result_json(text);
  if (!record.ok()) return 0;
  // What the reader accepts, the writer must write so that it reads back.
  const std::string again = servelab::report::to_json_text(*record);
  if (!servelab::report::parse_result_json(again).ok()) std::abort();
  return 0;
}
