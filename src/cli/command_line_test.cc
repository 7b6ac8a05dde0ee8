#include "cli/command_line.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "cli/exit_codes.h"

namespace modeld::cli {
namespace {

const std::vector<std::string> kCommands = {"pull", "serve", "search", "ls", "list",
                                            "info", "rm",    "verify", "gc", "cache",
                                            "jobs", "help",  "version"};

TEST(CommandLineTest, EditDistanceCountsSwapsAsOneEdit) {
  EXPECT_EQ(EditDistance("pull", "pull"), 0u);
  EXPECT_EQ(EditDistance("pul", "pull"), 1u);
  EXPECT_EQ(EditDistance("plul", "pull"), 1u);  // a swap of neighbours
  EXPECT_EQ(EditDistance("", "gc"), 2u);
  EXPECT_EQ(EditDistance("serve", "search"), 3u);
}

TEST(CommandLineTest, NearestWordsFindsTyposAndPrefixes) {
  struct Case {
    const char* word;
    std::vector<std::string> want;
  } cases[] = {
      {"pul", {"pull"}},
      {"pulll", {"pull"}},
      {"verfiy", {"verify"}},
      {"lst", {"list", "ls"}},  // every candidate at the smallest distance
      {"cach", {"cache"}},
      {"ver", {"verify", "version"}},  // no close typo: the commands it begins
      {"download", {}},                // nothing close: no guess
      {"x", {}},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(NearestWords(c.word, kCommands), c.want) << c.word;
  }
}

TEST(CommandLineTest, QuotedAlternatives) {
  EXPECT_EQ(QuotedAlternatives({"pull"}), "'pull'");
  EXPECT_EQ(QuotedAlternatives({"list", "ls"}), "'list' or 'ls'");
  EXPECT_EQ(QuotedAlternatives({"a", "b", "c"}), "'a', 'b' or 'c'");
}

class CheckCommandWordsTest : public ::testing::Test {
 protected:
  CheckCommandWordsTest() {
    app_.fallthrough();
    app_.add_option("--data-dir", value_);
    app_.add_flag("--quiet-global", flag_);
    auto* pull = app_.add_subcommand("pull");
    pull->add_option("model", value_);
    pull->add_option("-n,--name", value_);
    auto* ls = app_.add_subcommand("ls");
    ls->alias("list");
    auto* jobs = app_.add_subcommand("jobs");
    jobs->add_subcommand("rm")->add_option("id", value_);
  }
  std::optional<int> Check(std::vector<const char*> args) {
    args.insert(args.begin(), "modeld");
    return CheckCommandWords(app_, static_cast<int>(args.size()), args.data());
  }
  CLI::App app_;
  std::string value_;
  bool flag_ = false;
};

TEST_F(CheckCommandWordsTest, KnownCommandsAndTheirArgumentsPass) {
  EXPECT_EQ(Check({}), std::nullopt);
  EXPECT_EQ(Check({"pull", "org/name"}), std::nullopt);
  EXPECT_EQ(Check({"--data-dir", "pul", "pull", "x"}), std::nullopt);  // an option's value
  EXPECT_EQ(Check({"--data-dir=/d", "list"}), std::nullopt);           // an alias
  EXPECT_EQ(Check({"pull", "-n", "ls", "x"}), std::nullopt);
  EXPECT_EQ(Check({"jobs", "rm", "dwnld_1"}), std::nullopt);
  EXPECT_EQ(Check({"--", "pul"}), std::nullopt);
  EXPECT_EQ(Check({"--quiet-global", "pull", "x"}), std::nullopt);  // a flag takes no value
  EXPECT_EQ(Check({"jobs", "--quiet-global", "--data-dir", "/d"}), std::nullopt);
}

TEST_F(CheckCommandWordsTest, UnknownCommandsAreUsageErrors) {
  EXPECT_EQ(Check({"pul"}), kExitUsage);
  EXPECT_EQ(Check({"--quiet-global", "pul", "x"}), kExitUsage);  // a flag takes no value
  EXPECT_EQ(Check({"jobs", "rmm"}), kExitUsage);
  EXPECT_EQ(Check({"download", "x"}), kExitUsage);
}

}  // namespace
}  // namespace modeld::cli
