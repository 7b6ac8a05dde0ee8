#include "cli/command_line.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>

#include "cli/exit_codes.h"

namespace modeld::cli {

size_t EditDistance(std::string_view a, std::string_view b) {
  // d[i][j]: the distance between a[0, i) and b[0, j), one row per letter of a.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::vector<std::string> NearestWords(std::string_view word,
                                      const std::vector<std::string>& candidates) {
  const size_t limit = word.size() <= 4 ? 1 : word.size() <= 8 ? 2 : 3;
  size_t best = limit + 1;
  std::vector<std::string> near, prefixed;
  for (const auto& c : candidates) {
    if (c == word) continue;
    size_t d = EditDistance(word, c);
    if (d <= limit && d < best) {
      best = d;
      near.clear();
    }
    if (d <= limit && d == best) near.push_back(c);
    if (word.size() >= 2 && c.size() > word.size() && c.compare(0, word.size(), word) == 0) {
      prefixed.push_back(c);
    }
  }
  std::vector<std::string> out = near.empty() ? prefixed : near;
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string QuotedAlternatives(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? " or " : ", ";
    out += "'" + words[i] + "'";
  }
  return out;
}

namespace {

// |name| as an option of |app| or of a command above it (global options may follow the
// command: fallthrough).
const CLI::Option* FindOption(const CLI::App* app, const std::string& name) {
  for (; app != nullptr; app = app->get_parent()) {
    if (const CLI::Option* opt = app->get_option_no_throw(name)) return opt;
  }
  return nullptr;
}

std::string CommandPath(const CLI::App* app) {
  std::string path;
  for (; app != nullptr; app = app->get_parent()) {
    path = app->get_parent() == nullptr ? "modeld" + path : " " + app->get_name() + path;
  }
  return path;
}

}  // namespace

std::optional<int> CheckCommandWords(const CLI::App& app, int argc, const char* const* argv) {
  const CLI::App* level = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") return std::nullopt;
    if (arg.size() > 1 && arg[0] == '-') {
      // An option: skip its value too, unless it is attached (--opt=VALUE, -nNAME).
      bool attached = arg.find('=') != std::string::npos || (arg[1] != '-' && arg.size() > 2);
      const CLI::Option* opt = FindOption(level, arg);
      if (opt != nullptr && opt->get_items_expected_min() > 0 && !attached) ++i;
      continue;
    }
    auto commands = level->get_subcommands([](const CLI::App*) { return true; });
    if (commands.empty()) return std::nullopt;  // a command's own arguments
    const CLI::App* found = nullptr;
    for (const CLI::App* c : commands) {
      if (c->check_name(arg)) found = c;
    }
    if (found != nullptr) {
      level = found;
      continue;
    }
    // Not a command: a positional argument, if this level takes any.
    if (!level->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) {
      return std::nullopt;
    }
    std::vector<std::string> names, all;
    for (const CLI::App* c : commands) {
      names.push_back(c->get_name());
      all.push_back(c->get_name());
      for (const auto& alias : c->get_aliases()) all.push_back(alias);
    }
    const std::string path = CommandPath(level);
    std::vector<std::string> near = NearestWords(arg, all);
    if (!near.empty()) {
      std::fprintf(stderr, "%s: unknown command '%s'; did you mean %s?\n", path.c_str(),
                   arg.c_str(), QuotedAlternatives(near).c_str());
    } else {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      std::fprintf(stderr, "%s: unknown command '%s' (the commands: %s)\n", path.c_str(),
                   arg.c_str(), list.c_str());
    }
    std::fprintf(stderr, "Run '%s --help' for what each does.\n", path.c_str());
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace modeld::cli
