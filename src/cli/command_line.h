// The command line's own mistakes, caught before CLI11 parses it: an unknown command is
// named and the nearest known one suggested ("unknown command 'pul'; did you mean
// 'pull'?"), as git and docker do. CLI11 alone would answer "A subcommand is required".
//
// Thread safety: pure functions (CheckCommandWords prints to stderr).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace CLI {
class App;
}

namespace modeld::cli {

// The optimal string alignment distance between |a| and |b|: insertions, deletions,
// substitutions and swaps of two neighbouring letters, each one edit.
size_t EditDistance(std::string_view a, std::string_view b);

// The |candidates| |word| is most likely a typo of, nearest first: those within a few edits
// (one for words up to four letters, two up to eight, three beyond) and, failing that, those
// |word| (two letters or more) begins. Every candidate at the smallest distance is returned;
// none when nothing is close.
std::vector<std::string> NearestWords(std::string_view word,
                                      const std::vector<std::string>& candidates);

// "'pull'", "'list' or 'ls'", "'a', 'b' or 'c'".
std::string QuotedAlternatives(const std::vector<std::string>& words);

// Looks at argv as |app| will parse it: the first word that is neither an option nor an
// option's value must be one of |app|'s commands (names or aliases), and so on down for a
// command that has commands of its own and no positional arguments (`jobs rm`). Returns
// nullopt when they all are; otherwise prints "modeld: unknown command 'WORD'; did you mean
// 'X'?" (or the list of commands) to stderr and returns the usage exit code.
std::optional<int> CheckCommandWords(const CLI::App& app, int argc, const char* const* argv);

}  // namespace modeld::cli
