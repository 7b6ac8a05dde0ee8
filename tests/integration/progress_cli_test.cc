// What `modeld pull` says while and after it works, and how long it keeps trying (issue
// 11): the real binary against the test origin and the Hub mimic, its stderr a pipe (plain
// lines) or a pseudo-terminal (the live display).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "engine_harness.h"
#include "hub_mimic.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ProgressCliTest : public ::testing::Test {
 protected:
  TestOrigin origin_;
  ScratchDir dir_;
};

// The old budget was five retries per connection, 250 ms doubling with jitter: at most
// 0.25 + 0.5 + 1 + 2 + 4 = 7.75 s of waiting before the pull failed. An outage longer than
// that, then the origin serves again: the pull completes, having said each retry once.
TEST_F(ProgressCliTest, AnOutageLongerThanTheOldBudgetDoesNotEndAPull) {
  std::string data = RandomBytes(3 * kMiB, 1);
  origin_.Put("/w.bin", {.content = data});
  // 7.75 s of waits, plus slack for starting the process on a loaded machine (CI's
  // sanitizer builds): the sixth refusal must fall within the outage.
  const auto outage = milliseconds(12'000);
  auto start = std::chrono::steady_clock::now();
  origin_.RefuseConnectionsFor(outage);
  std::string err;
  int rc = RunModeld(
      {"pull", origin_.Url("/w.bin"), "-o", (dir_ / "w.bin").string(), "--sha256", Sha256Hex(data)},
      dir_.path(), nullptr, &err);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(rc, 0) << err;
  EXPECT_EQ(FileSha256(dir_ / "w.bin"), Sha256Hex(data));
  EXPECT_GE(took, outage);
  // The old budget gave up at the sixth failure in a row: at least six were refused (the
  // last of them within 7.75 s, so within the outage).
  EXPECT_GE(origin_.RefusedConnections(), 6);
  // Said at the default log level, in plain lines, once per attempt.
  // The origin resets each connection it accepts; curl names that "connection reset", or
  // "could not connect" when the reset beats its connect (timing: seen under ASan).
  EXPECT_TRUE(err.find(": connection reset, retrying in ") != std::string::npos ||
              err.find(": could not connect, retrying in ") != std::string::npos)
      << err;
  std::regex attempt(R"(retrying in [0-9.]+ s \(attempt ([0-9]+)\))");
  std::set<int> seen;
  int lines = 0;
  for (std::sregex_iterator it(err.begin(), err.end(), attempt), end; it != end; ++it) {
    ++lines;
    seen.insert(std::stoi((*it)[1]));
  }
  EXPECT_GE(lines, 6) << err;
  EXPECT_EQ(static_cast<size_t>(lines), seen.size()) << "one line per retry: " << err;
  std::fprintf(stderr, "outage of %lld ms: %d connections refused, pull took %lld ms\n",
               static_cast<long long>(outage.count()), origin_.RefusedConnections(),
               static_cast<long long>(std::chrono::duration_cast<milliseconds>(took).count()));
}

// Mid-download, with 16 connections cut at once: still one line per retry, not sixteen.
TEST_F(ProgressCliTest, AnOutageMidDownloadIsToldOncePerRetry) {
  std::string data = RandomBytes(24 * kMiB, 2);
  origin_.Put("/big.bin", {.content = data, .rate = kMiB});
  fs::path data_dir = dir_ / "data";
  Child c({"--data-dir", data_dir.string(), "pull", origin_.Url("/big.bin"), "--sha256",
           Sha256Hex(data)},
          dir_.path());
  ASSERT_TRUE(origin_.WaitForBodyBytes("/big.bin", 4 * kMiB));
  origin_.Update("/big.bin", [](FileSpec& f) { f.rate = 0; });
  origin_.RefuseConnectionsFor(milliseconds(3000));
  ASSERT_EQ(c.Wait(), 0) << c.Stderr();
  std::string err = c.Stderr();
  std::regex attempt(R"(retrying in [0-9.]+ s \(attempt ([0-9]+)\))");
  std::multiset<int> attempts;
  for (std::sregex_iterator it(err.begin(), err.end(), attempt), end; it != end; ++it) {
    attempts.insert(std::stoi((*it)[1]));
  }
  EXPECT_FALSE(attempts.empty()) << err;
  for (int a : attempts)
    EXPECT_EQ(attempts.count(a), 1u) << "attempt " << a << " told twice:\n" << err;
  EXPECT_GT(origin_.RefusedConnections(), 0);
  EXPECT_EQ(FileSha256(data_dir / "models" / "big" / "latest" / "big.bin"), Sha256Hex(data));
}

// A short budget gives up quickly, says that the same command resumes and keeps the
// bytes; after the outage the same command resumes.
TEST_F(ProgressCliTest, GivingUpSaysTheSameCommandResumesAndKeepsTheBytes) {
  std::string data = RandomBytes(16 * kMiB, 3);
  origin_.Put("/w.bin", {.content = data, .rate = 2 * kMiB});
  std::vector<std::string> cmd = {
      "pull",     origin_.Url("/w.bin"), "-o",          (dir_ / "w.bin").string(),
      "--sha256", Sha256Hex(data),       "--retry-for", "1s"};
  {
    Child c(cmd, dir_.path());
    ASSERT_TRUE(origin_.WaitForBodyBytes("/w.bin", 4 * kMiB));
    origin_.RefuseConnectionsFor(seconds(600));
    EXPECT_EQ(c.Wait(), 3) << c.Stderr();
    std::string err = c.Stderr();
    EXPECT_NE(err.find("giving up after retrying for 1 s"), std::string::npos) << err;
    EXPECT_NE(err.find("run the same command again to resume: the "), std::string::npos) << err;
    EXPECT_NE(err.find(" MiB downloaded so far are kept"), std::string::npos) << err;
  }
  EXPECT_TRUE(fs::exists(dir_ / "w.bin.part"));
  origin_.RefuseConnectionsFor(milliseconds(0));
  origin_.Update("/w.bin", [](FileSpec& f) { f.rate = 0; });
  std::string err;
  ASSERT_EQ(RunModeld(cmd, dir_.path(), nullptr, &err), 0) << err;
  EXPECT_NE(err.find("resumed from "), std::string::npos) << err;
  EXPECT_EQ(FileSha256(dir_ / "w.bin"), Sha256Hex(data));
}

// --retry-for 0: no retry at all, at once.
TEST_F(ProgressCliTest, RetryForZeroFailsAtTheFirstFailure) {
  origin_.Put("/w.bin", {.content = "x", .fail_status = 503, .fail_times = -1});
  std::string err;
  EXPECT_EQ(
      RunModeld({"pull", origin_.Url("/w.bin"), "-o", (dir_ / "w").string(), "--retry-for", "0"},
                dir_.path(), nullptr, &err),
      3);
  EXPECT_NE(err.find("giving up after retrying for 0 s (1 attempt, HTTP 503)"), std::string::npos)
      << err;
  EXPECT_NE(err.find("run the same command again"), std::string::npos) << err;
  EXPECT_EQ(
      RunModeld({"pull", origin_.Url("/w.bin"), "--retry-for", "soon"}, dir_.path(), nullptr, &err),
      2)
      << "not a duration";
}

// The summary tells the truth: an export's size and digest, its speed over the bytes of
// this run, one unit system, and no "installing" for a file that is not installed.
TEST_F(ProgressCliTest, AnExportsSummaryAndStages) {
  std::string data = RandomBytes(6 * kMiB, 4);
  origin_.Put("/w.bin", {.content = data, .rate = 8 * kMiB});
  std::string err;
  ASSERT_EQ(RunModeld({"pull", origin_.Url("/w.bin"), "-o", (dir_ / "w.bin").string()}, dir_.path(),
                      nullptr, &err),
            0)
      << err;
  std::regex summary("saved " + (dir_ / "w.bin").string() +
                     R"(: 6\.0 MiB downloaded in [0-9.]+ s \([0-9.]+ MiB/s\), sha256 )" +
                     Sha256Hex(data));
  EXPECT_TRUE(std::regex_search(err, summary)) << err;
  EXPECT_EQ(err.find("installing"), std::string::npos) << err;
  EXPECT_EQ(err.find("MB/s"), std::string::npos) << "one unit system: " << err;
  EXPECT_NE(err.find("/s ETA "), std::string::npos) << "plain progress lines: " << err;
}

// A multi-file pull names the files as they start, and its summary has no one file's
// digest; a second pull of another version reuses every byte and says so.
TEST_F(ProgressCliTest, AMultiFileHubPullNamesItsFilesAndSummarizesTruthfully) {
  HubMimic hub(origin_);
  std::vector<HubRepoFile> files;
  for (int i = 1; i <= 3; ++i) {
    files.push_back({"model-0000" + std::to_string(i) + "-of-00003.safetensors",
                     RandomBytes(2 * kMiB + i, 10 + i), true});
  }
  files.push_back({"config.json", "{}", false});
  hub.AddRepo("org/multi", std::string(40, 'c'), {"main", "v2"}, files);
  fs::path data_dir = dir_ / "data";
  std::vector<std::string> env = {"HF_ENDPOINT=" + hub.Endpoint()};
  std::string err;
  ASSERT_EQ(RunModeldEnv({"--data-dir", data_dir.string(), "pull", "org/multi"}, dir_.path(), env,
                         nullptr, &err),
            0)
      << err;
  for (int i = 1; i <= 3; ++i) {
    std::regex started("org/multi:latest: file [1-4]/4 model-0000" + std::to_string(i) +
                       R"(-of-00003\.safetensors \(2\.0 MiB\)\n)");
    EXPECT_TRUE(std::regex_search(err, started)) << err;
  }
  EXPECT_NE(err.find("org/multi:latest: 4 files, 6.0 MiB downloaded in "), std::string::npos)
      << err;
  EXPECT_EQ(err.find("sha256"), std::string::npos) << "no one file's digest: " << err;
  // The same files as another version: nothing fetched, every byte reused, and said so.
  err.clear();
  ASSERT_EQ(RunModeldEnv({"--data-dir", data_dir.string(), "pull", "org/multi:v2"}, dir_.path(),
                         env, nullptr, &err),
            0)
      << err;
  EXPECT_NE(err.find("org/multi:v2: 4 files, 6.0 MiB, all reused from the store, nothing "
                     "downloaded"),
            std::string::npos)
      << err;
  EXPECT_EQ(err.find("MiB/s)"), std::string::npos) << "reused bytes are not a speed: " << err;
}

// A second process pulling what another is downloading says what it waits for. The first
// takes about 4 s (one connection at 1 MiB/s); the second is started once the first's
// bytes flow, and reaches the lock as soon as its own probe (seen by the origin) returns.
TEST_F(ProgressCliTest, ASecondPullSaysWhatItWaitsFor) {
  std::string data = RandomBytes(4 * kMiB, 5);
  origin_.Put("/w.bin", {.content = data, .rate = 1 * kMiB});
  fs::path data_dir = dir_ / "data";
  std::vector<std::string> cmd = {"--data-dir", data_dir.string(),    "pull", "-c",
                                  "1",          origin_.Url("/w.bin")};
  Child first(cmd, dir_.path());
  ASSERT_TRUE(origin_.WaitForBodyBytes("/w.bin", 256 * 1024));
  size_t before = origin_.Requests("/w.bin").size();
  Child second(cmd, dir_.path());
  ASSERT_TRUE(origin_.WaitForRequests("/w.bin", before + 1));
  EXPECT_EQ(first.Wait(), 0) << first.Stderr();
  EXPECT_EQ(second.Wait(), 0) << second.Stderr();
  std::string err = second.Stderr();
  EXPECT_NE(err.find("w:latest: waiting for another modeld (pid " + std::to_string(first.pid()) +
                     ") downloading w:latest\n"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("w:latest: already in the store, nothing downloaded"), std::string::npos)
      << err;
}

// Two models from one URL: the second waits for the first's download of the file, says
// so, then takes the verified blob instead of fetching it again.
TEST_F(ProgressCliTest, ASecondModelOfTheSameUrlSaysWhichFileItWaitsFor) {
  std::string data = RandomBytes(4 * kMiB, 8);
  origin_.Put("/w.bin", {.content = data, .rate = 1 * kMiB});
  fs::path data_dir = dir_ / "data";
  Child first(
      {"--data-dir", data_dir.string(), "pull", "-c", "1", origin_.Url("/w.bin"), "--name", "a"},
      dir_.path());
  ASSERT_TRUE(origin_.WaitForBodyBytes("/w.bin", 256 * 1024));
  size_t before = origin_.Requests("/w.bin").size();
  Child second({"--data-dir", data_dir.string(), "pull", origin_.Url("/w.bin"), "--name", "b"},
               dir_.path());
  ASSERT_TRUE(origin_.WaitForRequests("/w.bin", before + 1));
  EXPECT_EQ(first.Wait(), 0) << first.Stderr();
  EXPECT_EQ(second.Wait(), 0) << second.Stderr();
  std::string err = second.Stderr();
  EXPECT_NE(err.find("b:latest: waiting for another modeld (pid " + std::to_string(first.pid()) +
                     ") downloading w.bin\n"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("b:latest: 4.0 MiB, 4.0 MiB reused from the store, nothing downloaded"),
            std::string::npos)
      << err;
}

// Two exports to one file: the second says who holds it, and what to do.
TEST_F(ProgressCliTest, ASecondExportOfOneFileNamesTheOther) {
  std::string data = RandomBytes(4 * kMiB, 6);
  origin_.Put("/w.bin", {.content = data, .rate = 1 * kMiB});
  std::vector<std::string> cmd = {
      "pull", "-c", "1", origin_.Url("/w.bin"), "-o", (dir_ / "w.bin").string()};
  Child first(cmd, dir_.path());
  ASSERT_TRUE(origin_.WaitForBodyBytes("/w.bin", 256 * 1024));
  std::string err;
  EXPECT_EQ(RunModeld(cmd, dir_.path(), nullptr, &err), 9) << err;
  EXPECT_NE(err.find("another modeld (pid " + std::to_string(first.pid()) + ") is downloading " +
                     (dir_ / "w.bin").string()),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("wait for it to finish"), std::string::npos) << err;
  first.Signal(SIGKILL);
}

// Through a server: its jobs retry (--retry-for) and say so in its log at the default
// level and to the clients following them, which print it as a pull in their own process
// does; a second client's identical pull joins the job and says what it waits for.
TEST_F(ProgressCliTest, ThroughAServerRetriesAreLoggedAndAJoinSaysWhatItWaitsFor) {
  std::string data = RandomBytes(4 * kMiB, 7);
  origin_.Put("/w.bin", {.content = data, .rate = 1 * kMiB});  // one connection: ~4 s
  fs::path data_dir = dir_ / "data";
  ServeChild server(data_dir, {"--retry-for", "30s"});
  std::vector<std::string> env = {"MODELD_URL=" + server.base(),
                                  "MODELD_HOME=" + data_dir.string()};
  Child first({"pull", origin_.Url("/w.bin")}, dir_.path(), env);
  ASSERT_TRUE(origin_.WaitForBodyBytes("/w.bin", 256 * 1024));
  origin_.RefuseConnectionsFor(milliseconds(1500));
  Child second({"pull", origin_.Url("/w.bin")}, dir_.path(), env);
  EXPECT_EQ(first.Wait(), 0) << first.Stderr();
  EXPECT_EQ(second.Wait(), 0) << second.Stderr();
  EXPECT_NE(
      first.Stderr().find("w:latest: downloading through the modeld server at " + server.base()),
      std::string::npos)
      << first.Stderr();
  EXPECT_NE(second.Stderr().find("w:latest: waiting for the download another client started on "
                                 "the modeld server at " +
                                 server.base()),
            std::string::npos)
      << second.Stderr();
  std::string log = server.Log();
  EXPECT_NE(log.find(" w:latest w.bin: "), std::string::npos) << log;
  EXPECT_NE(log.find(", retrying in "), std::string::npos) << log;
  // (The second client may join after the retries: only the first is sure to see them.)
  EXPECT_NE(first.Stderr().find("w:latest: w.bin: "), std::string::npos) << first.Stderr();
  EXPECT_NE(first.Stderr().find(", retrying in "), std::string::npos) << first.Stderr();
  EXPECT_EQ(FileSha256(data_dir / "models" / "w" / "latest" / "w.bin"), Sha256Hex(data));
}

// On a terminal (a pseudo-terminal 40 columns wide) the display redraws in place: every
// line it draws fits, and control codes, not new lines, move it.
TEST_F(ProgressCliTest, OnANarrowTerminalEveryLineFits) {
  HubMimic hub(origin_);
  std::vector<HubRepoFile> files;
  for (int i = 1; i <= 3; ++i) {
    files.push_back({"a-long-file-name-that-cannot-fit-0000" + std::to_string(i) + ".gguf",
                     RandomBytes(3 * kMiB, 20 + i), true});
  }
  hub.AddRepo("bartowski/Meta-Llama-3.1-70B-Instruct-GGUF", std::string(40, 'b'), {"main"}, files);
  // A few seconds in all: long enough for many frames.
  for (const auto& f : files) {
    origin_.Update(hub.CdnPath(f.content), [](FileSpec& spec) { spec.rate = 512 * 1024; });
  }
  int master = -1, slave = -1;
  winsize ws{};
  ws.ws_col = 40;
  ws.ws_row = 24;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, &ws), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(slave, 2);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::setenv("MODELD_HOME", (dir_ / "home").c_str(), 1);
    ::setenv("HF_HUB_CACHE", (dir_ / "hf").c_str(), 1);
    ::setenv("HF_ENDPOINT", hub.Endpoint().c_str(), 1);
    std::string bin = ModeldBin();
    ::execl(bin.c_str(), bin.c_str(), "pull", "bartowski/Meta-Llama-3.1-70B-Instruct-GGUF",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(slave);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child has exited
    out.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
  if (const char* dump = std::getenv("PTY_DUMP")) std::ofstream(dump) << out;
  EXPECT_NE(out.find("\033[J"), std::string::npos) << "redrawn in place";
  EXPECT_NE(out.find("\u2026"), std::string::npos) << "names shortened";
  // Every line of the live display, as drawn between control codes, fits in 39 columns.
  std::string line;
  size_t drawn = 0;
  auto check = [&] {
    size_t w = 0;
    for (unsigned char ch : line) w += (ch & 0xC0) != 0x80;
    // The display's lines: the model's ("NAME  42% ...") and the files' ("  2/3 ...");
    // not the messages and the summary after it ("NAME: ..."), which may wrap.
    bool display = (line.rfind("bartowski/", 0) == 0 && line.find(": ") == std::string::npos) ||
                   line.rfind("  ", 0) == 0;
    if (display) {
      ++drawn;
      EXPECT_LT(w, 40u) << "'" << line << "'";
    }
    line.clear();
  };
  for (size_t i = 0; i < out.size(); ++i) {
    char ch = out[i];
    if (ch == '\033') {
      check();
      while (i < out.size() && !std::isalpha(static_cast<unsigned char>(out[i]))) ++i;
    } else if (ch == '\r' || ch == '\n') {
      check();
    } else {
      line += ch;
    }
  }
  check();
  EXPECT_GT(drawn, 3u) << out;
  EXPECT_NE(out.find("3 files, 9.0 MiB downloaded in "), std::string::npos) << out;
}

}  // namespace
}  // namespace modeld::testing
