// The CLI's surface as a new user meets it (issue 11): unknown commands, aliases, the
// version, help that ends with examples and names the environment, what rm and gc free,
// the Hugging Face cache commands, and errors in the CLI's own words. The real binary,
// against the test origin and the Hub mimic.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "engine_harness.h"
#include "origin.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;

class CliSurfaceTest : public ::testing::Test {
 protected:
  struct Out {
    int rc;
    std::string out, err;
  };
  // `modeld ARGS...` with the scratch dir's data dir (unless |data_dir| is false).
  Out Modeld(std::vector<std::string> args, bool data_dir = true,
             const std::vector<std::string>& env = {}) {
    if (data_dir) args.insert(args.begin(), {"--data-dir", data_.string()});
    Out o;
    o.rc = RunModeldEnv(args, dir_.path(), env, &o.out, &o.err);
    return o;
  }

  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
};

// The lines of |text|.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST_F(CliSurfaceTest, UnknownCommandsSayWhichAndSuggestTheNearest) {
  auto r = Modeld({"pul", "org/name"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown command 'pul'; did you mean 'pull'?"), std::string::npos) << r.err;
  r = Modeld({"--log-level", "error", "lst"});  // after a global option and its value
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown command 'lst'; did you mean 'list' or 'ls'?"), std::string::npos)
      << r.err;
  r = Modeld({"jobs", "rmm", "dwnld_1"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("modeld jobs: unknown command 'rmm'; did you mean 'rm'?"), std::string::npos)
      << r.err;
  // Nothing close: the list of commands.
  r = Modeld({"frobnicate"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown command 'frobnicate' (the commands: pull,"), std::string::npos)
      << r.err;
  r = Modeld({"help", "pul"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("did you mean 'pull'?"), std::string::npos) << r.err;
}

TEST_F(CliSurfaceTest, ListIsLs) {
  auto ls = Modeld({"ls", "--json"});
  auto list = Modeld({"list", "--json"});
  ASSERT_EQ(ls.rc, 0) << ls.err;
  ASSERT_EQ(list.rc, 0) << list.err;
  EXPECT_EQ(list.out, ls.out);
  EXPECT_EQ(Modeld({"list"}).out, Modeld({"ls"}).out);
}

TEST_F(CliSurfaceTest, VersionCommandAndFlagsPrintTheVersion) {
  auto version = Modeld({"version"}, false);
  ASSERT_EQ(version.rc, 0) << version.err;
  EXPECT_EQ(version.out.rfind("modeld ", 0), 0u) << version.out;
  for (const char* flag : {"-V", "--version"}) {
    auto r = Modeld({flag}, false);
    EXPECT_EQ(r.rc, 0) << flag << ": " << r.err;
    EXPECT_EQ(r.out, version.out) << flag;
  }
}

// Every command, as the top-level help lists them (so a new one is checked too), and the
// commands of jobs.
TEST_F(CliSurfaceTest, EveryHelpEndsWithExamples) {
  auto top = Modeld({"--help"}, false);
  ASSERT_EQ(top.rc, 0);
  std::vector<std::vector<std::string>> commands = {{}, {"jobs", "rm"}};
  bool in_list = false;
  for (const auto& line : Lines(top.out)) {
    if (line == "Subcommands:") {
      in_list = true;
    } else if (in_list && line.empty()) {
      in_list = false;
    } else if (in_list && line.rfind("  ", 0) == 0) {
      std::string name = line.substr(2, line.find_first_of(", ", 2) - 2);
      commands.push_back({name});
    }
  }
  ASSERT_GE(commands.size(), 12u) << top.out;
  for (const auto& command : commands) {
    std::vector<std::string> flag_form = command, help_form = {"help"};
    flag_form.push_back("--help");
    help_form.insert(help_form.end(), command.begin(), command.end());
    for (const auto& args : {flag_form, help_form}) {
      std::string shown;
      for (const auto& a : args) shown += a + " ";
      auto r = Modeld(args, false);
      ASSERT_EQ(r.rc, 0) << shown << r.err;
      auto lines = Lines(r.out);
      while (!lines.empty() && lines.back().empty()) lines.pop_back();
      auto examples = std::find(lines.begin(), lines.end(), "Examples:");
      ASSERT_NE(examples, lines.end()) << shown << "has no Examples section:\n" << r.out;
      ASSERT_NE(examples + 1, lines.end()) << shown;
      for (auto it = examples + 1; it != lines.end(); ++it) {
        EXPECT_EQ(it->rfind("  modeld ", 0), 0u)
            << shown << "ends with something besides examples: '" << *it << "'";
      }
    }
  }
}

TEST_F(CliSurfaceTest, TopLevelHelpNamesTheEnvironmentAndTheGlobalOptions) {
  auto r = Modeld({"--help"}, false);
  ASSERT_EQ(r.rc, 0);
  for (const char* want : {"Global options",
                           "--data-dir",
                           "--log-level",
                           "--catalog",
                           "--allow-upstream",
                           "--allow-private-upstreams",
                           "Environment:",
                           "MODELD_HOME",
                           "MODELD_URL",
                           "MODELD_TOKEN",
                           "MODELD_ALLOW_PRIVATE_UPSTREAMS",
                           "HF_TOKEN",
                           "HUGGING_FACE_HUB_TOKEN",
                           "HF_ENDPOINT",
                           "HF_HUB_CACHE",
                           "HF_HOME",
                           "HF_HUB_OFFLINE",
                           "XDG_DATA_HOME",
                           "https_proxy",
                           "no_proxy",
                           "ls, list"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " missing from:\n" << r.out;
  }
}

}  // namespace
}  // namespace modeld::testing
