#include "completion/bash_completion.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace servelab::completion {
namespace {

// One command of the tree: its path ("models make"), the words that may
// follow it (subcommands and flags), and the flags that take a value.
struct Node {
  std::string path;
  std::vector<std::string> children;
  std::vector<std::string> words;
  std::vector<std::string> valued;
};

void walk(const CLI::App& app, const std::string& path, std::vector<Node>& out) {
  Node node{path, {}, {}, {}};
  for (const CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name().empty()) continue;
    node.children.push_back(sub->get_name());
    node.words.push_back(sub->get_name());
  }
  for (const CLI::Option* o : app.get_options({})) {
    std::vector<std::string> names;
    for (const std::string& s : o->get_snames()) names.push_back("-" + s);
    for (const std::string& l : o->get_lnames()) names.push_back("--" + l);
    if (names.empty()) continue;  // a positional argument
    const bool takes_value = o->get_type_size_max() > 0 && o->get_expected_max() > 0;
    for (const std::string& n : names) {
      node.words.push_back(n);
      if (takes_value) node.valued.push_back(n);
    }
  }
  out.push_back(node);
  for (const CLI::App* sub : app.get_subcommands({}))
    if (!sub->get_name().empty())
      walk(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
}

std::string joined(const std::vector<std::string>& v, std::string_view sep) {
  return fmt::format("{}", fmt::join(v, sep));
}

}  // namespace

std::string bash_script(const CLI::App& app, std::string_view program) {
  std::vector<Node> nodes;
  walk(app, "", nodes);
  std::string fn = "_" + std::string(program);
  for (char& c : fn)
    if (c == '-') c = '_';
  std::string out = fmt::format(
      "# bash completion for {0}, made by the program from its own flags.\n"
      "{1}() {{\n"
      "  local cur=\"${{COMP_WORDS[COMP_CWORD]}}\" prev=\"${{COMP_WORDS[COMP_CWORD-1]}}\"\n"
      "  local path=\"\" i w\n"
      "  # The subcommands given so far (flags and their values are skipped).\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=\"${{COMP_WORDS[i]}}\"\n"
      "    case \"$path|$w\" in\n",
      program, fn);
  for (const Node& n : nodes)
    for (const std::string& child : n.children)
      out += fmt::format("      \"{}|{}\") path=\"{}\" ;;\n", n.path, child,
                         n.path.empty() ? child : n.path + " " + child);
  out +=
      "    esac\n"
      "  done\n"
      "  local words=\"\" valued=\"\"\n"
      "  case \"$path\" in\n";
  for (const Node& n : nodes)
    out += fmt::format("    \"{}\") words=\"{}\"; valued=\" {} \" ;;\n", n.path,
                       joined(n.words, " "), joined(n.valued, " "));
  out += fmt::format(
      "  esac\n"
      "  # After a flag that takes a value: file names (scenarios, results, folders).\n"
      "  if [[ \"$valued\" == *\" $prev \"* ]]; then\n"
      "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  if [[ \"$cur\" == -* ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
      "  else\n"
      "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\") $(compgen -f -- \"$cur\"))\n"
      "  fi\n"
      "}}\n"
      "complete -o filenames -F {} {}\n",
      fn, program);
  return out;
}

}  // namespace servelab::completion
