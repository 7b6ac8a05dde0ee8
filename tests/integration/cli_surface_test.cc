// The CLI's surface as a new user meets it (issue 11): unknown commands, aliases, the
// version, help that ends with examples and names the environment, what rm and gc free,
// the Hugging Face cache commands, and errors in the CLI's own words. The real binary,
// against the test origin and the Hub mimic.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "engine_harness.h"
#include "http_client.h"
#include "hub_mimic.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
constexpr const char* kCliCommit = "0123456789abcdef0123456789abcdef01234567";

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

  // `modeld ARGS... --json`, parsed.
  nlohmann::json Json(std::vector<std::string> args, int want_rc = 0,
                      const std::vector<std::string>& env = {}) {
    args.push_back("--json");
    auto r = Modeld(args, true, env);
    EXPECT_EQ(r.rc, want_rc) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "stdout: " << r.out << "\nstderr: " << r.err;
    return j;
  }
  size_t BlobFiles() {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(data_ / "blobs" / "sha256", ec)) {
      n += e.is_regular_file();
    }
    return n;
  }

  ScratchDir dir_;
  fs::path data_ = dir_ / "data";
  fs::path hf_cache_ = dir_ / "hf-cache";  // the child's HF_HUB_CACHE (subprocess.h)
};

// The same, with a Hub: org/tiny (a small file and an LFS one) and org/gated (needs the
// token "hf_good").
class CliHubTest : public CliSurfaceTest {
 protected:
  void SetUp() override {
    hub_.AddRepo("org/tiny", kCliCommit, {"main"},
                 {{"config.json", "{\"model_type\": \"tiny\"}", false},
                  {"w.bin", RandomBytes(2 * kMiB, 7), true}});
    hub_.AddRepo("org/gated", kCliCommit, {"main"}, {{"w.bin", RandomBytes(5000, 8), true}},
                 "hf_good");
  }
  std::vector<std::string> Env(const std::string& token = "") {
    std::vector<std::string> env = {"HF_ENDPOINT=" + hub_.Endpoint()};
    if (!token.empty()) env.push_back("HF_TOKEN=" + token);
    return env;
  }
  uint64_t TinyBytes() { return 2 * kMiB + std::string("{\"model_type\": \"tiny\"}").size(); }

  TestOrigin api_;
  HubMimic hub_{api_};
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
  // A flag, then a global option and its value after the command.
  auto after = Modeld({"list", "--json", "--data-dir", data_.string()}, false);
  EXPECT_EQ(after.rc, 0) << after.err;
  EXPECT_EQ(after.out, ls.out);
}

// "modeld 0.1.0 (commit e1bfa0e, built 2025-01-31T12:00:00Z)": the version, the git commit
// ("-dirty" with changes, "unknown" outside a checkout) and the build date, UTC ISO 8601.
const std::regex kVersionLine(
    R"(modeld (\d+\.\d+\.\d+) \(commit ([0-9a-f]{7,40}(-dirty)?|unknown), )"
    R"(built (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)\)\n)");

TEST_F(CliSurfaceTest, VersionCommandAndFlagsPrintTheVersionCommitAndBuildDate) {
  auto version = Modeld({"version"}, false);
  ASSERT_EQ(version.rc, 0) << version.err;
  EXPECT_TRUE(std::regex_match(version.out, kVersionLine)) << version.out;
  for (const char* flag : {"-V", "--version"}) {
    auto r = Modeld({flag}, false);
    EXPECT_EQ(r.rc, 0) << flag << ": " << r.err;
    EXPECT_EQ(r.out, version.out) << flag;
  }
}

// GET /version says what `modeld --version` says, and the data dir `modeld pull` checks.
TEST_F(CliSurfaceTest, TheServersVersionIsTheBinarys) {
  auto version = Modeld({"--version"}, false);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(version.out, m, kVersionLine)) << version.out;
  ServeChild serve(data_);
  ASSERT_NE(serve.port(), 0) << serve.Log();
  auto r = HttpCall("GET", serve.base() + "/version");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["name"], "modeld");
  EXPECT_EQ(j["version"], m[1].str());
  EXPECT_EQ(j["commit"], m[2].str());
  EXPECT_EQ(j["build_date"], m[4].str());
  EXPECT_EQ(fs::weakly_canonical(j["data_dir"].get<std::string>()), fs::weakly_canonical(data_));
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
  // `modeld` alone shows the same help, as docker and ollama do.
  auto bare = Modeld({}, false);
  EXPECT_EQ(bare.rc, 0) << bare.err;
  EXPECT_EQ(bare.out, r.out);
}

// ---------------------------------------------------------------------------------------
// rm and gc say what they free; gc --dry-run says what it would.

TEST_F(CliSurfaceTest, RmSaysHowMuchItFreed) {
  TestOrigin origin;
  origin.Put("/a.bin", {.content = RandomBytes(3 * kMiB, 1)});
  ASSERT_EQ(Modeld({"pull", "-q", origin.Url("/a.bin")}).rc, 0);
  auto r = Modeld({"rm", "a"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("removed a:latest"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("freed 3.0 MiB"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("kept"), std::string::npos) << r.out;
  EXPECT_EQ(BlobFiles(), 0u);
}

TEST_F(CliSurfaceTest, GcDryRunSaysWhatItWouldRemoveAndRemovesNothing) {
  TestOrigin origin;
  origin.Put("/v1.bin", {.content = RandomBytes(kMiB, 2)});
  origin.Put("/v2.bin", {.content = RandomBytes(2 * kMiB, 3)});
  ASSERT_EQ(Modeld({"pull", "-q", origin.Url("/v1.bin"), "--name", "m"}).rc, 0);
  // v2 replaces v1 as m:latest: v1's file is used by no model now.
  auto r = Modeld({"pull", "-q", "--force", origin.Url("/v2.bin"), "--name", "m"});
  ASSERT_EQ(r.rc, 0) << r.err;
  ASSERT_EQ(BlobFiles(), 2u);

  r = Modeld({"gc", "--dry-run"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("would remove 1 unused file (1.0 MiB)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would free 1.0 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing was removed (--dry-run)"), std::string::npos) << r.out;
  EXPECT_EQ(BlobFiles(), 2u) << "a dry run removes nothing";
  auto j = Json({"gc", "--dry-run"});
  EXPECT_EQ(j["dry_run"], true);
  EXPECT_EQ(j["blobs_removed"], 1);
  EXPECT_EQ(j["freed_bytes"], kMiB);
  EXPECT_EQ(BlobFiles(), 2u);

  r = Modeld({"gc"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("removed 1 unused file (1.0 MiB)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("freed 1.0 MiB"), std::string::npos) << r.out;
  EXPECT_EQ(BlobFiles(), 1u);
  EXPECT_EQ(Json({"ls"})["models"][0]["status"], "available");
}

// ---------------------------------------------------------------------------------------
// The Hugging Face cache: what it holds because of modeld, and freeing it.

TEST_F(CliHubTest, CacheShowsWhatTheHubCacheHoldsBecauseOfModeld) {
  auto r = Modeld({"cache"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("hub cache: holds none of modeld's files"), std::string::npos) << r.out;
  ASSERT_EQ(Modeld({"pull", "-q", "org/tiny"}, true, Env()).rc, 0);
  r = Modeld({"cache"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("hub cache: 2 files of modeld's (2.0 MiB, hard links: on disk once), in 1 "
                       "repository:"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("org/tiny"), std::string::npos) << r.out;
  auto j = Json({"cache"});
  ASSERT_EQ(j["hf_cache_repos"].size(), 1u) << j.dump();
  EXPECT_EQ(j["hf_cache_repos"][0]["repo_id"], "org/tiny");
  EXPECT_EQ(j["hf_cache_repos"][0]["path"], (hf_cache_ / "models--org--tiny").string());
  EXPECT_EQ(j["hf_cache_repos"][0]["files"], 2);
  EXPECT_EQ(j["hf_cache_repos"][0]["bytes"], TinyBytes());
  EXPECT_EQ(j["hf_cache_repos"][0]["unused_files"], 0);
}

// Without --hf-cache, removing a Hub model frees nothing of what the Hub cache links: rm
// says so (and keeps the files, for gc --hf-cache); gc --hf-cache frees them from both.
TEST_F(CliHubTest, RmKeepsWhatTheHubCacheLinksAndGcHfCacheFreesIt) {
  ASSERT_EQ(Modeld({"pull", "-q", "org/tiny"}, true, Env()).rc, 0);
  auto r = Modeld({"rm", "org/tiny"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("removed org/tiny:latest"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("freed 0 B"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kept 2 files (2.0 MiB): the Hugging Face cache (" + hf_cache_.string() +
                       ") still links them (org/tiny)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("modeld gc --hf-cache removes both"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(hf_cache_ / "models--org--tiny" / "snapshots" / kCliCommit / "w.bin"));
  r = Modeld({"cache"});
  EXPECT_NE(r.out.find("2 files (2.0 MiB) no model uses stay because the Hugging Face cache "
                       "links them: modeld gc --hf-cache frees them"),
            std::string::npos)
      << r.out;

  r = Modeld({"gc"});  // a plain gc keeps them too, and says why
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("removed 0 unused files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("kept 2 files (2.0 MiB)"), std::string::npos) << r.out;
  r = Modeld({"gc", "--dry-run", "--hf-cache"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("would remove 2 unused files (2.0 MiB)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would free 2.0 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would remove 2 files from the Hugging Face cache (org/tiny)"),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(fs::exists(hf_cache_ / "models--org--tiny"));
  EXPECT_EQ(BlobFiles(), 2u);

  r = Modeld({"gc", "--hf-cache"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("freed 2.0 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("removed 2 files from the Hugging Face cache (org/tiny)"), std::string::npos)
      << r.out;
  EXPECT_FALSE(fs::exists(hf_cache_ / "models--org--tiny"));
  EXPECT_EQ(BlobFiles(), 0u);
}

TEST_F(CliHubTest, RmHfCacheFreesTheBytesAtOnce) {
  ASSERT_EQ(Modeld({"pull", "-q", "org/tiny"}, true, Env()).rc, 0);
  auto j = Json({"rm", "org/tiny", "--hf-cache"});
  EXPECT_EQ(j["removed"], nlohmann::json::array({"org/tiny:latest"}));
  EXPECT_EQ(j["freed_bytes"], TinyBytes());
  EXPECT_EQ(j["hf_cache"]["links_removed"], 2);
  EXPECT_EQ(j["hf_cache"]["kept_files"], 0);
  EXPECT_FALSE(fs::exists(hf_cache_ / "models--org--tiny"));
  EXPECT_EQ(BlobFiles(), 0u);
  // In words.
  ASSERT_EQ(Modeld({"pull", "-q", "org/tiny"}, true, Env()).rc, 0);
  auto r = Modeld({"rm", "org/tiny:latest", "--hf-cache"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("freed 2.0 MiB"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("removed 2 files from the Hugging Face cache (org/tiny)"), std::string::npos)
      << r.out;
}

// ---------------------------------------------------------------------------------------
// Errors in the CLI's words, with the next step.

TEST_F(CliSurfaceTest, UnknownNameSuggestsSearchAndTheHubForm) {
  auto r = Modeld({"pull", "whisper-nano-xyz"});
  EXPECT_EQ(r.rc, 4) << r.err;
  EXPECT_NE(r.err.find("unknown model 'whisper-nano-xyz'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("modeld search whisper"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("org/name"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("not found in repository"), std::string::npos) << "the API's words";
}

TEST_F(CliSurfaceTest, AnUnknownSchemeIsNamed) {
  for (const char* url : {"htp://example.com/x.bin", "ftp://example.com/x.bin"}) {
    auto r = Modeld({"pull", url});
    EXPECT_EQ(r.rc, 2) << r.err;
    EXPECT_NE(r.err.find("unknown URL scheme '" + std::string(url).substr(0, 3)), std::string::npos)
        << r.err;
    EXPECT_NE(r.err.find("http:// and https://"), std::string::npos) << r.err;
  }
}

TEST_F(CliSurfaceTest, A404SaysNotFoundWithTheUrl) {
  TestOrigin origin;
  const std::string url = origin.Url("/models/missing.bin");
  auto r = Modeld({"pull", url});
  EXPECT_EQ(r.rc, 4) << r.err;
  EXPECT_NE(r.err.find("modeld pull: not found (HTTP 404): " + url + "\n"), std::string::npos)
      << r.err;
  r = Modeld({"pull", url, "-o", (dir_ / "x.bin").string()});
  EXPECT_EQ(r.rc, 4) << r.err;
  EXPECT_NE(r.err.find("modeld pull: not found (HTTP 404): " + url + "\n"), std::string::npos)
      << r.err;
}

// The line of |err| that says why the command failed ("modeld CMD: ...").
std::string ErrorLine(const std::string& err) {
  for (const auto& line : Lines(err)) {
    if (line.rfind("modeld ", 0) == 0) return line;
  }
  return "";
}

TEST_F(CliSurfaceTest, ShortSpaceNamesTheDirectoryAndFileSystemInMiBAndGiB) {
  TestOrigin origin;
  // The origin announces 100 TB: more than any disk here.
  origin.Put("/huge.bin", {.content = "x", .lie_extra = 100'000'000'000'000ull});
  auto r = Modeld({"pull", origin.Url("/huge.bin")});
  EXPECT_EQ(r.rc, 6) << r.err;
  EXPECT_NE(r.err.find("not enough space in " + data_.string() + " (the file system mounted at "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("90.9 TiB needed, "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--data-dir"), std::string::npos) << r.err;
  EXPECT_EQ(ErrorLine(r.err).find("MB"), std::string::npos) << "one unit system: " << r.err;
  r = Modeld({"pull", origin.Url("/huge.bin"), "-o", (dir_ / "out" / "huge.bin").string()});
  EXPECT_EQ(r.rc, 6) << r.err;
  EXPECT_NE(r.err.find("not enough space in " + dir_.path().string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("give -o a directory on another disk"), std::string::npos) << r.err;
  EXPECT_EQ(ErrorLine(r.err).find("MB"), std::string::npos) << "one unit system: " << r.err;
  // Through a server on the same data dir: the server's failure, in the CLI's words.
  ServeChild server(data_);
  r = Modeld({"pull", origin.Url("/huge.bin")}, true, {"MODELD_URL=" + server.base()});
  EXPECT_EQ(r.rc, 6) << r.err;
  EXPECT_NE(r.err.find("not enough space in " + data_.string() + " (the file system mounted at "),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("90.9 TiB needed, "), std::string::npos) << r.err;
  EXPECT_EQ(ErrorLine(r.err).find("MB"), std::string::npos) << "one unit system: " << r.err;
}

TEST_F(CliHubTest, AGatedRepositorySaysHowToSetHfToken) {
  auto r = Modeld({"pull", "org/gated"}, true, Env());
  EXPECT_EQ(r.rc, 7) << r.err;
  EXPECT_NE(r.err.find("accept its licence at " + hub_.Endpoint() + "/org/gated"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("export HF_TOKEN=hf_"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/settings/tokens"), std::string::npos) << r.err;
  r = Modeld({"pull", "org/gated"}, true, Env("hf_wrong"));
  EXPECT_EQ(r.rc, 7) << r.err;
  EXPECT_NE(r.err.find("the account of HF_TOKEN has not accepted its licence"), std::string::npos)
      << r.err;
  EXPECT_EQ(Modeld({"pull", "-q", "org/gated"}, true, Env("hf_good")).rc, 0);
}

// Installed already: the same request again is success and says where; another checksum
// is another request (it downloads, and a mismatch says so). Neither speaks of the HTTP
// API's force_download=true.
TEST_F(CliSurfaceTest, AlreadyInstalledIsSuccessAndAnotherChecksumIsChecked) {
  TestOrigin origin;
  origin.Put("/a.bin", {.content = RandomBytes(kMiB, 4)});
  ASSERT_EQ(Modeld({"pull", "-q", origin.Url("/a.bin"), "--name", "a:v1"}).rc, 0);
  auto r = Modeld({"pull", origin.Url("/a.bin"), "--name", "a:v1"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("already installed at "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("force_download"), std::string::npos) << r.err;
  r = Modeld({"pull", origin.Url("/a.bin"), "--name", "a:v1", "--sha256", std::string(64, 'b')});
  EXPECT_NE(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("force_download"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace modeld::testing
