#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace servelab {

// Writes `content` to a temporary file beside `path`, fsyncs it and renames
// it over `path`: a reader sees the old file or the whole new one, never a
// torn one. Creates missing parent folders. On failure (a full disk, a
// read-only folder) the error names the file and nothing is left behind.
Status write_file_atomically(const std::string& path, std::string_view content);

// The same for a set of files that belong together (a run's result and
// reports): every file is first written and fsynced to a temporary beside
// it; only when all of them are complete are they renamed into place, in
// order (put the file readers look for, result.json, last). A failure while
// writing removes the temporaries and leaves every existing file as it was:
// a previous result in the folder is never half replaced.
Status write_files_atomically(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace servelab
