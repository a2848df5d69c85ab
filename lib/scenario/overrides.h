#pragma once
// --set overrides: "dotted.key=value" applied to a parsed scenario document
// before it is validated, so an overridden value is checked exactly like one
// written in the file.

#include <toml++/toml.h>

#include <string_view>

#include "common/result.h"

namespace servelab::scenario {

// Sets `assignment`'s key in `root`. Path parts are table keys or, inside an
// array, 0-based element indexes ("requests.0.model=mlp-1"). Missing tables
// along the path are created (whether the key exists in the schema is checked
// by validation, which names the unknown part); indexes past an array's end
// and paths through a non-table value are errors here. The value is read as a
// TOML value ("8", "true", "[1, 2]", "\"x\"") or else taken as a plain string
// ("30s"). Every node created carries "--set <assignment>" as its source path.
Status apply_override(toml::table& root, std::string_view assignment);

}  // namespace servelab::scenario
