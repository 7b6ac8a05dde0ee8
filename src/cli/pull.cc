#include "cli/pull.h"

#include <signal.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/exit_codes.h"
#include "cli/progress.h"
#include "core/checksum.h"
#include "core/fs.h"
#include "net/http.h"

namespace modeld::cli {

namespace {

std::chrono::milliseconds Ms(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Waits for SIGINT/SIGTERM on its own thread (the signals are blocked everywhere else)
// and stops the transfer, keeping the partial for the next run.
class SignalWatcher {
 public:
  SignalWatcher() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);  // our own wake-up at exit
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  void Start(std::function<void()> on_signal) {
    thread_ = std::thread([this, on_signal] {
      int sig = 0;
      while (sigwait(&set_, &sig) == 0) {
        if (sig == SIGUSR1) return;
        interrupted_ = true;
        on_signal();
      }
    });
  }
  ~SignalWatcher() {
    if (thread_.joinable()) {
      pthread_kill(thread_.native_handle(), SIGUSR1);
      thread_.join();
    }
  }
  bool interrupted() const { return interrupted_; }

 private:
  sigset_t set_;
  std::thread thread_;
  std::atomic<bool> interrupted_{false};
};

}  // namespace

int RunPull(const PullArgs& args) {
  engine::DownloadRequest req;
  req.url = args.url;
  if (net::UrlOrigin(args.url).empty()) {
    std::fprintf(stderr, "modeld pull: '%s' is not an http(s) URL\n", args.url.c_str());
    return kExitUsage;
  }
  std::string out = args.output;
  if (out.empty()) {
    out = net::UrlFileName(args.url);
    if (out.empty() || out == "." || out == "..") out = "download.bin";
  }
  req.dest = out;
  std::string sum = !args.sha256.empty() ? "sha256:" + args.sha256 : args.checksum;
  if (!sum.empty()) {
    auto parsed = ParseChecksum(sum);
    if (!parsed.has_value()) {
      std::fprintf(stderr, "modeld pull: %s\n", parsed.error().message().c_str());
      return kExitUsage;
    }
    req.checksum = *parsed;
  }
  req.headers = args.headers;
  auto& o = req.options;
  o.max_connections = args.connections;
  o.retry_count = args.retries;
  o.total_timeout = Ms(args.timeout_s);
  o.stall_timeout = Ms(args.stall_timeout_s);
  o.connect_timeout = Ms(args.connect_timeout_s);
  o.verify_ssl = !args.no_verify_ssl;

  SignalWatcher signals;  // before any thread starts, so all inherit the blocked mask
  bool tty = ::isatty(STDERR_FILENO) != 0;
  ProgressPrinter printer(stderr, tty, out);

  std::mutex mu;
  std::condition_variable cv;
  std::optional<engine::TransferEvent> final_event;
  engine::Engine eng;
  auto start = std::chrono::steady_clock::now();
  std::optional<std::chrono::steady_clock::time_point> last_byte;  // entered verifying
  engine::TransferId id = eng.Submit(req, [&](const engine::TransferEvent& ev) {
    if (ev.stage == engine::Stage::kVerifying && !last_byte) {
      last_byte = std::chrono::steady_clock::now();
    }
    if (!args.quiet && !ev.terminal()) printer.Update(ev);
    if (ev.terminal()) {
      std::lock_guard<std::mutex> lock(mu);
      final_event = ev;
      cv.notify_all();
    }
  });
  signals.Start([&] { eng.Stop(id); });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return final_event.has_value(); });
  }
  if (!args.quiet) printer.Done();
  auto end = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(end - start).count();
  const auto& ev = *final_event;

  if (args.json) {
    nlohmann::json j;
    j["url"] = args.url;
    j["path"] = ev.path.string();
    j["status"] = std::string(engine::StageName(ev.stage));
    j["bytes"] = ev.total_bytes.value_or(ev.done_bytes);
    j["resumed_bytes"] = ev.resumed_bytes;
    j["seconds"] = secs;
    if (!ev.sha256.empty()) j["sha256"] = ev.sha256;
    if (last_byte && ev.stage == engine::Stage::kCompleted) {
      // From the last byte received to the verified file in place.
      j["finalize_seconds"] = std::chrono::duration<double>(end - *last_byte).count();
    }
    if (!ev.status.ok()) j["error"] = ev.status.message();
    std::printf("%s\n", j.dump().c_str());
  }
  if (ev.stage == engine::Stage::kCompleted) {
    if (!args.json && !args.quiet) {
      uint64_t bytes = ev.total_bytes.value_or(0);
      std::fprintf(stderr, "%s: %s in %.1f s (%.1f MB/s)%s, sha256 %s\n", ev.path.c_str(),
                   HumanBytes(bytes).c_str(), secs,
                   secs > 0 ? static_cast<double>(bytes - ev.resumed_bytes) / secs / 1e6 : 0.0,
                   ev.resumed_bytes > 0
                       ? (", resumed from " + HumanBytes(ev.resumed_bytes)).c_str()
                       : "",
                   ev.sha256.c_str());
    }
    return kExitOk;
  }
  if (ev.stage == engine::Stage::kCancelled || signals.interrupted()) {
    std::fprintf(stderr, "modeld pull: interrupted; run the same command again to resume\n");
    return kExitInterrupted;
  }
  std::fprintf(stderr, "modeld pull: %s\n", ev.status.message().c_str());
  return ExitCodeFor(ev.status);
}

}  // namespace modeld::cli
