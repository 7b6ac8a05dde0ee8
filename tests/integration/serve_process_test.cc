// `modeld serve` as a real process: kill -9 and restarts, SIGTERM, file descriptor
// exhaustion, what its log may contain, and `modeld jobs` with and without a server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <condition_variable>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>

#include "engine_harness.h"
#include "http_client.h"
#include "origin.h"
#include "serve_child.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json Body(const HttpReply& r) { return json::parse(r.body, nullptr, false); }

HttpReply PostJson(const std::string& url, const json& body,
                   const std::vector<std::string>& extra = {}) {
  std::vector<std::string> headers = {"Content-Type: application/json"};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return HttpCall("POST", url, body.dump(), headers);
}

// Waits for job |id| to end: its event stream ends with the job (no polling).
void WaitJobEnd(const std::string& base, const std::string& id) {
  HttpCall("GET", base + "/model-download/" + id + "/events", "", {}, nullptr, 120);
}

// An upstream that answers the first request for a file (modeld's probe) and then holds
// every later one open without a byte until the test ends: a download that never moves.
class HangingUpstream {
 public:
  explicit HangingUpstream(TestOrigin& origin) {
    origin.Handle("/hang/", [this](const std::string&, const std::string&,
                                   const std::map<std::string, std::string>& headers) {
      std::unique_lock<std::mutex> lock(mu_);
      ++requests_;
      ++inside_;
      cv_.notify_all();
      if (requests_ > 1) cv_.wait(lock, [&] { return released_; });
      --inside_;
      cv_.notify_all();
      SimpleResponse r;
      r.status = 206;
      r.headers = {{"Content-Range", "bytes 0-0/" + std::to_string(64 * kMiB)}, {"ETag", "\"h\""}};
      r.body = "x";
      return r;
    });
  }
  // Releases the held requests and waits until none is still inside the handler: the
  // origin's threads must not touch this object after it is gone (ASan).
  ~HangingUpstream() {
    Release();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return inside_ == 0; });
  }
  // Waits until |n| requests have arrived in all.
  bool WaitRequests(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(60), [&] { return requests_ >= n; });
  }
  int requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int requests_ = 0;       // GUARDED_BY(mu_)
  int inside_ = 0;         // GUARDED_BY(mu_): handlers running
  bool released_ = false;  // GUARDED_BY(mu_)
};

// A job whose run takes the server down at every start (as an upstream header that threw
// did) is retried a bounded number of times, then failed; `modeld jobs` lists it and
// removes it with or without a server.
TEST(ServeProcessTest, AJobThatKeepsKillingTheServerIsFailedAfterBoundedRetries) {
  TestOrigin origin;
  HangingUpstream upstream(origin);
  ScratchDir dir;
  fs::path data = dir.path() / "data";
  std::string id;
  {
    ServeChild s(data);
    ASSERT_GT(s.port(), 0) << s.Log();
    auto r = PostJson(s.base() + "/model-download",
                      {{"model_name", "crashy"}, {"download_url", origin.Url("/hang/a.bin")}});
    ASSERT_EQ(r.status, 200) << r.body;
    id = Body(r)["download_id"];
    ASSERT_TRUE(upstream.WaitRequests(2));  // the download itself has started: now it dies
    s.Signal(SIGKILL);
    s.Wait();
  }
  for (int start = 1; start <= 3; ++start) {  // each restart retries it, and dies again
    ServeChild s(data);
    ASSERT_GT(s.port(), 0) << s.Log();
    EXPECT_NE(s.Log().find("resuming 1 download"), std::string::npos)
        << "start " << start << ": " << s.Log();
    ASSERT_TRUE(upstream.WaitRequests(2 + start)) << "start " << start;
    s.Signal(SIGKILL);
    s.Wait();
  }
  int before = upstream.requests();
  {
    ServeChild s(data);
    ASSERT_GT(s.port(), 0) << s.Log();
    auto r = HttpCall("GET", s.base() + "/model-download/" + id + "/progress");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(Body(r)["state"], "failed") << r.body;
    EXPECT_NE(Body(r)["error"].get<std::string>().find("modeld jobs rm " + id), std::string::npos)
        << r.body;
    EXPECT_EQ(upstream.requests(), before) << "not retried a fourth time";
    // `modeld jobs` goes through the running server.
    std::string out;
    ASSERT_EQ(RunModeldEnv({"jobs", "--json"}, dir.path(), {"MODELD_URL=" + s.base()}, &out), 0);
    auto listed = json::parse(out, nullptr, false);
    ASSERT_EQ(listed["jobs"].size(), 1u) << out;
    EXPECT_EQ(listed["jobs"][0]["state"], "failed");
    s.Signal(SIGTERM);
    EXPECT_EQ(s.Wait(), 0);
  }
  // No server: straight from the registry.
  std::string out, err;
  std::vector<std::string> env = {"MODELD_URL=http://127.0.0.1:1"};
  ASSERT_EQ(RunModeldEnv({"jobs", "--data-dir", data.string()}, dir.path(), env, &out), 0);
  EXPECT_NE(out.find(id), std::string::npos) << out;
  EXPECT_NE(out.find("failed"), std::string::npos) << out;
  ASSERT_EQ(
      RunModeldEnv({"jobs", "rm", id, "--data-dir", data.string()}, dir.path(), env, &out, &err), 0)
      << err;
  EXPECT_EQ(
      RunModeldEnv({"jobs", "rm", id, "--data-dir", data.string()}, dir.path(), env, &out, &err), 4)
      << "gone: NotFound";
  ASSERT_EQ(RunModeldEnv({"jobs", "--json", "--data-dir", data.string()}, dir.path(), env, &out),
            0);
  EXPECT_EQ(json::parse(out, nullptr, false)["jobs"].size(), 0u) << out;
}

TEST(ServeProcessTest, SigtermStopsWithinTwoSecondsAndTheDownloadResumes) {
  TestOrigin origin;
  std::string content = RandomBytes(48 * kMiB, 31);
  origin.Put("/big.bin", {.content = content, .rate = 4 * kMiB});
  ScratchDir dir;
  fs::path data = dir.path() / "data";
  std::string id;
  {
    ServeChild s(data);
    ASSERT_GT(s.port(), 0) << s.Log();
    auto r = PostJson(s.base() + "/model-download",
                      {{"model_name", "big"}, {"download_url", origin.Url("/big.bin")}});
    ASSERT_EQ(r.status, 200) << r.body;
    id = Body(r)["download_id"];
    ASSERT_TRUE(origin.WaitForBodyBytes("/big.bin", 12 * kMiB));
    auto start = std::chrono::steady_clock::now();
    s.Signal(SIGTERM);
    EXPECT_EQ(s.Wait(), 0);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::seconds(2))
        << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  }
  uint64_t served_before = origin.BodyBytes("/big.bin");
  origin.Update("/big.bin", [](FileSpec& f) { f.rate = 0; });
  ServeChild s(data);
  ASSERT_GT(s.port(), 0) << s.Log();
  WaitJobEnd(s.base(), id);
  auto r = HttpCall("GET", s.base() + "/model-download/" + id + "/progress");
  EXPECT_EQ(Body(r)["state"], "completed") << r.body;
  uint64_t refetched = origin.BodyBytes("/big.bin") -
                       (content.size() - std::min<uint64_t>(served_before, content.size()));
  EXPECT_LT(origin.BodyBytes("/big.bin"), content.size() + content.size() / 5)
      << "checkpointed at SIGTERM: little fetched twice (" << refetched << " bytes)";
}

// A request resolving a model whose upstream never answers (up to the probe's 15 s) must
// not hold up the stop, nor must a job stuck resolving.
TEST(ServeProcessTest, SigtermDoesNotWaitOnASilentUpstream) {
  TestOrigin origin;
  HangingUpstream upstream(origin);  // answers the first request, then never again
  ScratchDir dir;
  ServeChild s(dir.path() / "data");
  ASSERT_GT(s.port(), 0) << s.Log();
  // A job stuck in its download (its probe was answered)...
  auto r = PostJson(s.base() + "/model-download",
                    {{"model_name", "stuck"}, {"download_url", origin.Url("/hang/a.bin")}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(upstream.WaitRequests(2));
  // ...and a POST waiting on its probe.
  auto pending = std::async(std::launch::async, [&] {
    return PostJson(s.base() + "/model-download",
                    {{"model_name", "silent"}, {"download_url", origin.Url("/hang/b.bin")}});
  });
  ASSERT_TRUE(upstream.WaitRequests(3));
  auto start = std::chrono::steady_clock::now();
  s.Signal(SIGTERM);
  EXPECT_EQ(s.Wait(), 0);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2))
      << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  pending.get();
}

// Under make asan: UBSan's vptr check probes memory through a pipe (compiler-rt 14,
// IsAccessibleMemoryRange), so in a process with no descriptor left every vptr check it
// has not cached reports "invalid vptr", a false positive. The server this test runs out
// of descriptors lets that one (recoverable) check go on, and writes any report to
// stderr, where this test shows it: a log file cannot be opened without a descriptor, and
// the sanitizer runtime dies when it cannot. Every other check stays fatal.
std::vector<std::string> SanitizersWithoutDescriptors() {
  const char* ubsan = std::getenv("UBSAN_OPTIONS");
  const char* asan = std::getenv("ASAN_OPTIONS");
  if (ubsan == nullptr && asan == nullptr) return {};
  return {"/usr/bin/env",
          std::string("UBSAN_OPTIONS=") + (ubsan ? ubsan : "") + ":halt_on_error=0:log_path=stderr",
          std::string("ASAN_OPTIONS=") + (asan ? asan : "") + ":log_path=stderr"};
}

// Out of file descriptors, the server neither spins nor goes silent: one kept in reserve
// answers a health check, and it recovers when connections close.
TEST(ServeProcessTest, OutOfFileDescriptorsItBacksOffAndStillAnswersHealthz) {
  if (::access("/usr/bin/prlimit", X_OK) != 0)
    GTEST_SKIP() << "prlimit (util-linux) is not installed";
  ScratchDir dir;
  std::vector<std::string> prefix = SanitizersWithoutDescriptors();
  for (const char* a : {"/usr/bin/prlimit", "--nofile=64:64", "--"}) prefix.push_back(a);
  ServeChild s(dir.path() / "data", {"--max-connections", "100000"}, prefix);
  ASSERT_GT(s.port(), 0) << s.Log();
  std::vector<int> held;
  for (int i = 0; i < 120; ++i) {  // more than the process can hold
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(s.port());
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    held.push_back(fd);
  }
  // Each held connection is accepted until descriptors run out; then the reserve serves.
  auto r = HttpCall("GET", s.base() + "/healthz", "", {}, nullptr, 10);
  EXPECT_EQ(r.status, 200) << r.body << "\n" << s.Log();
  // Not spinning on accept(): CPU time over a second of wall time stays small.
  auto cpu = [&] {
    std::ifstream stat("/proc/" + std::to_string(s.pid()) + "/stat");
    std::string tok;
    for (int i = 0; i < 13 && stat >> tok; ++i) {
    }
    long utime = 0, stime = 0;
    stat >> utime >> stime;
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  };
  double before = cpu();
  std::this_thread::sleep_for(std::chrono::seconds(1));  // a measurement window, not a wait
  double used = cpu() - before;
  EXPECT_LT(used, 0.3) << "CPU seconds used in one idle second";
  for (int fd : held) ::close(fd);
  bool ok = false;
  for (int i = 0; i < 1000 && !ok; ++i) ok = HttpCall("GET", s.base() + "/version").status == 200;
  EXPECT_TRUE(ok) << "serves normally once connections close";
}

// Tokens and URL credentials are never written to the log nor echoed.
TEST(ServeProcessTest, SecretsNeverReachTheLogOrTheAnswers) {
  TestOrigin origin;
  origin.Put("/m.bin", {.content = RandomBytes(kMiB, 32)});
  ScratchDir dir;
  fs::path token_file = dir.path() / "token";
  std::ofstream(token_file) << "t0ps3cret\n";
  ServeChild s(dir.path() / "data", {"--token-file", token_file.string(), "--log-level", "debug"});
  ASSERT_GT(s.port(), 0) << s.Log();
  const std::string auth = "Authorization: Bearer t0ps3cret";
  EXPECT_EQ(HttpCall("GET", s.base() + "/models").status, 401);
  std::string url = origin.Url("/m.bin");
  url.insert(url.find("://") + 3, "alice:pa55word@");
  auto r = PostJson(s.base() + "/model-download?wait=true",
                    {{"model_name", "m"}, {"download_url", url}}, {auth});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string id = Body(r)["download_id"];
  auto ev = HttpCall("GET", s.base() + "/model-download/" + id + "/events?token=t0ps3cret");
  EXPECT_EQ(ev.status, 200);
  auto list = HttpCall("GET", s.base() + "/model-download", "", {auth});
  auto failed = PostJson(
      s.base() + "/model-download",
      {{"model_name", "gone"}, {"download_url", "http://bob:hunter2@127.0.0.1:1/x.bin"}}, {auth});
  for (const auto& reply : {r, ev, list, failed}) {
    EXPECT_EQ(reply.body.find("pa55word"), std::string::npos) << reply.body;
    EXPECT_EQ(reply.body.find("hunter2"), std::string::npos) << reply.body;
  }
  s.Signal(SIGTERM);
  s.Wait();
  std::string log = s.Log();
  EXPECT_NE(log.find("/events?token=***"), std::string::npos) << "the stream was logged, redacted";
  EXPECT_EQ(log.find("t0ps3cret"), std::string::npos) << log;
  EXPECT_EQ(log.find("pa55word"), std::string::npos) << log;
  EXPECT_EQ(log.find("hunter2"), std::string::npos) << log;
}

}  // namespace
}  // namespace modeld::testing
