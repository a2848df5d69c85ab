#pragma once
// A bash completion script made from a CLI11 App's own definitions (its
// subcommands, nested ones too, and every flag's names), so that it cannot
// fall behind the flags: `servelab completion bash` and
// `servelab-server --completion bash` print it, and the build installs it
// (share/bash-completion/completions).

#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace servelab::completion {

// The script for `program` (the command name it completes). Flags that take
// a value complete file names after them; others complete from the list.
std::string bash_script(const CLI::App& app, std::string_view program);

}  // namespace servelab::completion
