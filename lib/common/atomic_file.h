#pragma once
#include <string>
#include <string_view>

#include "common/result.h"

namespace servelab {

// Writes `content` to a temporary file beside `path`, fsyncs it and renames
// it over `path`: a reader sees the old file or the whole new one, never a
// torn one. Creates missing parent folders.
Status write_file_atomically(const std::string& path, std::string_view content);

}  // namespace servelab
