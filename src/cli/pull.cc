#include "cli/pull.h"

#include <signal.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <variant>

#include "cli/errors.h"
#include "cli/exit_codes.h"
#include "cli/progress.h"
#include "cli/server_client.h"
#include "core/checksum.h"
#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/mutex.h"
#include "core/names.h"
#include "service/model_service.h"
#include "service/open.h"

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

namespace {

// The download options, checksum and headers shared by both modes. Returns an exit code
// on bad input (after printing why), else nullopt.
std::optional<int> BuildRequest(const PullArgs& args, service::ExportRequest* req) {
  if (service::IsHttpUrl(args.model)) req->url = args.model;
  std::string sum = !args.sha256.empty() ? "sha256:" + args.sha256 : args.checksum;
  if (!sum.empty()) {
    auto parsed = ParseChecksum(sum);
    if (!parsed.has_value()) {
      std::fprintf(stderr, "modeld pull: %s\n", parsed.error().message().c_str());
      return kExitUsage;
    }
    req->checksum = *parsed;
  }
  req->headers = args.headers;
  auto& o = req->options;
  o.max_connections = args.connections;
  o.max_rate = args.max_rate;
  o.retry_count = args.retries;
  if (args.retry_for_s >= 0) o.retry_for = Ms(args.retry_for_s);
  o.total_timeout = Ms(args.timeout_s);
  o.stall_timeout = Ms(args.stall_timeout_s);
  o.connect_timeout = Ms(args.connect_timeout_s);
  o.verify_ssl = !args.no_verify_ssl;
  return std::nullopt;
}

int Usage(const std::string& why) {
  std::fprintf(stderr, "modeld pull: %s\n", why.c_str());
  return kExitUsage;
}

// What MODEL names, as a service request: a URL (installed as --name or its file name),
// a Hub repository (by hf://, a link to the Hub without a file, or org/name[:VERSION]),
// or a catalog model NAME[:VERSION].
std::optional<int> BuildPull(const PullArgs& args, const service::ExportRequest& dl,
                             service::PullRequest* req) {
  req->checksum = dl.checksum;
  req->headers = dl.headers;
  req->options = dl.options;
  req->force = args.force;
  req->source = args.source;
  req->include = args.include;
  req->exclude = args.exclude;
  req->revision = args.revision;
  req->quantization = args.quantization;
  req->extract = !args.no_extract;
  req->keep_archive = args.keep_archive;
  if (Status s = service::ParsePullTarget(args.model, args.name, req); !s.ok())
    return Usage(s.message());
  if (!req->url.empty()) return std::nullopt;
  if (!args.output.empty())
    return Usage("-o exports a URL; pull a named model into the store instead");
  return std::nullopt;
}

// Tracks the events of one pull for the progress display, the summary and --json.
class PullProgress {
 public:
  PullProgress(const PullArgs& a, std::string label, bool export_file = false)
      : args_(a),
        printer_(stderr, !a.quiet && ::isatty(STDERR_FILENO) != 0, std::move(label), export_file) {}
  // Called on download threads, one at a time.
  void operator()(const service::Progress& p) EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      if ((p.state == service::JobState::kVerifying || p.state == service::JobState::kInstalling) &&
          !last_byte_) {
        last_byte_ = std::chrono::steady_clock::now();
      }
      // A notice alone (waiting) carries no progress: keep the last that did.
      if (!p.waiting) last_ = p;
    }
    if (!args_.quiet) printer_.Update(p);
  }
  void Done() {
    if (!args_.quiet) printer_.Done();
  }
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // From the start to the last byte fetched (the whole run if none came).
  double FetchSeconds() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    auto end = last_byte_.value_or(std::chrono::steady_clock::now());
    return std::chrono::duration<double>(end - start_).count();
  }
  std::optional<double> FinalizeSeconds() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    if (!last_byte_) return std::nullopt;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - *last_byte_).count();
  }
  service::Progress Last() EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return last_;
  }

 private:
  const PullArgs& args_;
  ProgressPrinter printer_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  Mutex mu_;
  std::optional<std::chrono::steady_clock::time_point> last_byte_ GUARDED_BY(mu_);
  service::Progress last_ GUARDED_BY(mu_);
};

// A failed pull's message, with the next step: a network failure (the retry budget spent,
// a timeout, a 5xx) keeps what was downloaded, and the same command resumes.
std::string FailureMessage(const Status& s, const service::Progress& last,
                           const ErrorContext& context = {}) {
  std::string msg = CliMessage(s, context);
  if (s.code() != Status::Code::kUnavailable) return msg;
  uint64_t kept = 0;
  for (const auto& f : last.files) {
    if (!f.reused) kept += f.done;
  }
  if (last.files.empty()) kept = last.done;
  if (kept == 0) return msg + "\nrun the same command again to try again";
  return msg + "\nrun the same command again to resume: the " + HumanBytes(kept) +
         " downloaded so far are kept";
}

// An installed model asked for again is success, as docker, ollama and hf answer it: a
// line on stderr, and its path alone on stdout (or the JSON result) for scripts.
int AlreadyInstalled(const PullArgs& args, const std::string& ref, const std::string& path,
                     nlohmann::json model) {
  if (args.json) {
    model["model_status"] = model.value("status", "");
    model["status"] = "completed";
    model["downloaded"] = false;
    model["already_installed"] = true;
    model["resumed_bytes"] = 0;
    std::printf("%s\n", model.dump().c_str());
    return kExitOk;
  }
  if (!args.quiet) std::fprintf(stderr, "%s: already installed at %s\n", ref.c_str(), path.c_str());
  std::printf("%s\n", path.c_str());
  return kExitOk;
}

int Interrupted() {
  std::fprintf(stderr, "modeld pull: interrupted; run the same command again to resume\n");
  return kExitInterrupted;
}

// -o PATH: a plain file, not recorded in the store. PATH ending in '/', or an existing
// directory, is a directory to save into under the file's name (curl --output-dir, aria2c
// -d); checked before the first byte.
int RunExport(const PullArgs& args, service::ExportRequest req) {
  SignalWatcher signals;  // before any thread starts, so all inherit the blocked mask
  std::error_code ec;
  req.path = args.output;
  req.into_directory = args.output.back() == '/' || std::filesystem::is_directory(req.path, ec);
  auto dest = service::ExportDestination(req);
  if (!dest.has_value()) {
    if (args.json) {
      std::printf(
          "%s\n",
          nlohmann::json{{"status", "failed"}, {"error", dest.error().message()}}.dump().c_str());
    }
    std::fprintf(stderr, "modeld pull: %s\n", dest.error().message().c_str());
    return ExitCodeFor(dest.error());
  }
  req.path = *dest;
  req.into_directory = false;
  PullProgress progress(args, req.path.string(), /*export_file=*/true);
  service::StopSignal stop;
  signals.Start([&] { stop.Request(); });
  auto result = service::Export(req, std::ref(progress), &stop);
  progress.Done();
  if (args.json) {
    nlohmann::json j;
    j["url"] = args.model;
    j["path"] = req.path.string();
    j["seconds"] = progress.Seconds();
    if (result.has_value()) {
      j["status"] = "completed";
      j["bytes"] = result->size;
      j["resumed_bytes"] = result->resumed_bytes;
      j["sha256"] = result->sha256;
      // From the last byte received to the verified file in place.
      if (auto f = progress.FinalizeSeconds()) j["finalize_seconds"] = *f;
    } else {
      j["status"] = result.error().code() == Status::Code::kCancelled ? "cancelled" : "failed";
      j["error"] = result.error().message();
    }
    std::printf("%s\n", j.dump().c_str());
  }
  if (result.has_value()) {
    if (!args.json && !args.quiet) {
      PullSummary sum;
      sum.what = "saved " + result->path.string();
      sum.total = result->size;
      sum.resumed = result->resumed_bytes;
      sum.seconds = progress.FetchSeconds();
      sum.sha256 = result->sha256;
      std::fprintf(stderr, "%s\n", FormatSummary(sum).c_str());
    }
    if (!args.json) std::printf("%s\n", result->path.c_str());
    return kExitOk;
  }
  if (result.error().code() == Status::Code::kCancelled || signals.interrupted())
    return Interrupted();
  std::fprintf(stderr, "modeld pull: %s\n",
               FailureMessage(result.error(), progress.Last(), {.exporting = true}).c_str());
  return ExitCodeFor(result.error());
}

// Into the store, as NAME:VERSION.
int RunStorePull(const PullArgs& args, service::PullRequest req) {
  SignalWatcher signals;
  service::OpenOptions opening;
  opening.catalogs = args.catalogs;
  opening.ollama_models = args.ollama_models;
  opening.ollama_registry = args.ollama_registry;
  auto svc = service::OpenService(args.data_dir, opening);
  if (!svc.has_value()) return PrintError("pull", svc.error());
  service::StopSignal stop;
  signals.Start([&] { stop.Request(); });
  PullProgress progress(args, req.ref.ToString());
  auto result = (*svc)->Pull(req, std::ref(progress), &stop);
  progress.Done();
  if (!result.has_value() && result.error().code() == Status::Code::kAlreadyExists) {
    if (auto m = (*svc)->Info(req.ref); m.has_value() && m->status == "available") {
      return AlreadyInstalled(args, m->ref.ToString(), m->OpenPath().string(), m->ToJson());
    }
  }
  if (!result.has_value()) {
    if (args.json) {
      std::printf(
          "%s\n",
          nlohmann::json{{"status", "failed"}, {"error", result.error().message()}}.dump().c_str());
    }
    if (result.error().code() == Status::Code::kCancelled || signals.interrupted()) {
      return Interrupted();
    }
    std::fprintf(stderr, "modeld pull: %s\n",
                 FailureMessage(result.error(), progress.Last()).c_str());
    return ExitCodeFor(result.error());
  }
  const auto& r = *result;
  // One file's digest is the model's only when it has one file.
  const std::string digest = r.model.files.size() == 1 ? r.model.files.front().sha256 : "";
  if (args.json) {
    nlohmann::json j = r.model.ToJson();
    j["status"] = "completed";
    j["model_status"] = r.model.status;
    j["downloaded"] = r.downloaded;
    j["resumed_bytes"] = r.resumed_bytes;
    j["reused_bytes"] = SummarizeProgress("", progress.Last(), r.model.size, 0, "").reused;
    if (!digest.empty()) j["sha256"] = digest;
    j["seconds"] = progress.Seconds();
    if (auto f = progress.FinalizeSeconds()) j["finalize_seconds"] = *f;
    std::printf("%s\n", j.dump().c_str());
  } else if (!args.quiet) {
    service::Progress last = progress.Last();
    if (last.files.empty()) {
      // Installed meanwhile by another process: nothing of it passed through this one.
      std::fprintf(stderr, "%s: already in the store, nothing downloaded\n",
                   r.model.ref.ToString().c_str());
    } else {
      PullSummary sum = SummarizeProgress(r.model.ref.ToString(), last, r.model.size,
                                          progress.FetchSeconds(), digest);
      std::fprintf(stderr, "%s\n", FormatSummary(sum).c_str());
    }
    std::fprintf(stderr, "installed %s at %s\n", r.model.ref.ToString().c_str(),
                 r.model.path.c_str());
  }
  if (!args.json) std::printf("%s\n", r.model.OpenPath().c_str());
  return kExitOk;
}

int ExitCodeForHttp(long status) {
  switch (status) {
    case 400:
      return kExitUsage;
    case 401:
    case 403:
      return kExitPermission;
    case 404:
      return kExitNotFound;
    case 409:
      return kExitExists;
    case 413:
      return kExitNoSpace;
    case 500:
      return kExitInternal;
    default:
      return kExitNetwork;
  }
}

// The "notice" of an event of the server's stream (api/generic/wire.cc) on |p|, as a pull
// in this process carries it: a retry rides on the job's progress; a wait comes alone.
void AddNotice(const nlohmann::json& j, service::Progress* p) {
  const auto n = j.find("notice");
  if (n == j.end() || !n->is_object()) return;
  std::string kind = n->value("kind", "");
  if (kind == "retry") {
    service::RetryNotice r;
    r.file = n->value("file", "");
    r.reason = n->value("reason", "");
    r.delay = std::chrono::milliseconds(n->value("delay_ms", int64_t{0}));
    r.attempt = n->value("attempt", 0);
    p->retry = std::move(r);
  } else if (kind == "waiting") {
    service::WaitNotice w;
    w.pid = n->value("pid", 0);
    w.this_process = n->value("this_process", false);
    w.what = n->value("what", "");
    p->waiting = std::move(w);
  }
}

// Through a running server: submit, then follow its event stream.
int RunServerPull(const PullArgs& args, const service::PullRequest& req,
                  const ServerClient& server) {
  const ModelRef* ref = &req.ref;
  nlohmann::json body = {{"model_name", ref->name},
                         {"version", ref->version},
                         {"force_download", args.force},
                         {"options",
                          {{"timeout", static_cast<int64_t>(std::max(1.0, args.stall_timeout_s))},
                           {"verify_ssl", !args.no_verify_ssl},
                           {"extract_after_download", req.extract},
                           {"cleanup_temp_files", !req.keep_archive}}}};
  if (args.retries >= 0) body["options"]["retry_count"] = args.retries;
  if (args.max_rate > 0) body["options"]["max_rate"] = args.max_rate;
  if (args.retry_for_s >= 0)
    body["options"]["retry_for"] = static_cast<int64_t>(std::ceil(args.retry_for_s));
  if (!req.url.empty()) body["download_url"] = req.url;
  if (!req.lookup.name.empty()) {
    body["from"] = req.lookup.version.empty() ? req.lookup.name : req.lookup.ToString();
  }
  if (!req.source.empty()) body["source"] = req.source;
  if (!req.include.empty()) body["include"] = req.include;
  if (!req.exclude.empty()) body["exclude"] = req.exclude;
  if (!req.revision.empty()) body["revision"] = req.revision;
  if (!req.quantization.empty()) body["quantization"] = req.quantization;
  if (req.checksum) body["checksum"] = req.checksum->ToString();
  SignalWatcher signals;
  auto r = server.Post("/model-download", body);
  if (r.status == 409) {  // installed as asked: success, with its path
    auto m = server.Get("/models/" + ref->name);
    const auto& versions = m.body.is_object() ? m.body.value("versions", nlohmann::json::array())
                                              : nlohmann::json::array();
    for (const auto& v : versions) {
      if (!v.is_object() || v.value("version", "") != ref->version ||
          v.value("status", "") != "available") {
        continue;
      }
      std::string path = v.value("path", "");
      const auto& files = v.value("files", nlohmann::json::array());
      if (files.size() == 1 && files[0].is_object())
        path = (std::filesystem::path(path) / files[0].value("path", "")).string();
      return AlreadyInstalled(args, ref->ToString(), path, v);
    }
  }
  if (r.status != 200) {
    std::string detail = r.body.is_object() ? r.body.value("detail", r.error) : r.error;
    if (r.status == 409) {  // the API's words say force_download=true: the CLI's, --force
      detail = CliMessage(Status::AlreadyExists(detail).WithInfo(
          {reason::kAlreadyInstalled, {{"model", ref->ToString()}}}));
    } else if (r.body.is_object() && r.body.contains("error_code")) {
      return PrintError("pull", ServerFailure(r.body, detail, Status::Code::kInternal));
    }
    std::fprintf(stderr, "modeld pull: %s\n", detail.c_str());
    return ExitCodeForHttp(r.status);
  }
  std::string id = r.body.value("download_id", "");
  if (!args.quiet && !args.json) {
    // Joined: another client's request started this download; say that it is waited for.
    bool joined = r.body.is_object() &&
                  r.body.value("message", "").find("already in progress") != std::string::npos;
    std::fprintf(
        stderr, "%s: %s the modeld server at %s (%s)\n", ref->ToString().c_str(),
        joined ? "waiting for the download another client started on" : "downloading through",
        server.base().c_str(), id.c_str());
  }
  std::atomic<bool> paused{false};
  signals.Start([&] {
    paused = true;
    server.Post("/model-download/" + id + "/pause", nlohmann::json::object(), 5000);
  });
  PullProgress progress(args, ref->ToString());
  nlohmann::json last;
  server.Events("/model-download/" + id + "/events", [&](const std::string& ev_name,
                                                         const nlohmann::json& j) {
    if (!j.is_object()) return true;
    last = j;
    if (ev_name == "done" || ev_name == "error") return false;
    std::string state = j.value("state", "");
    if (state == "paused" && paused) return false;
    service::Progress ev;
    ev.state = service::ParseJobState(state).value_or(service::JobState::kDownloading);
    if (ev.state == service::JobState::kQueued) ev.state = service::JobState::kResolving;
    const auto& p = j.value("progress", nlohmann::json::object());
    ev.done = p.value("downloaded_bytes", uint64_t{0});
    if (p.value("total_bytes", uint64_t{0}) > 0) ev.total = p.value("total_bytes", uint64_t{0});
    ev.bytes_per_second = p.value("speed_mbps", 0.0) * 1e6;
    if (p.value("eta_seconds", 0) > 0) ev.eta_seconds = p.value("eta_seconds", 0);
    // Each file, for the per-file lines of a multi-file pull.
    if (auto files = j.find("files"); files != j.end() && files->is_array()) {
      for (const auto& fj : *files) {
        if (!fj.is_object()) continue;
        service::FileProgress f;
        f.path = fj.value("path", "");
        f.done = fj.value("downloaded_bytes", uint64_t{0});
        if (fj.contains("total_bytes") && fj["total_bytes"].is_number_unsigned())
          f.total = fj["total_bytes"].get<uint64_t>();
        f.state =
            service::ParseJobState(fj.value("state", "")).value_or(service::JobState::kQueued);
        f.reused = fj.value("reused", false);
        ev.files.push_back(std::move(f));
      }
    }
    if (ev_name == "notice") AddNotice(j, &ev);  // said as a pull in this process says it
    progress(ev);
    return true;
  });
  progress.Done();
  if (paused) {
    std::fprintf(stderr,
                 "modeld pull: paused on the server; run the same command again to resume\n");
    return kExitInterrupted;
  }
  auto final = server.Get("/model-download/" + id + "/progress");
  const auto& f = final.body;
  if (args.json) std::printf("%s\n", f.dump().c_str());
  if (f.is_object() && f.value("state", "") == "completed") {
    std::string path = f.value("file_path", std::string());
    if (!args.quiet && !args.json) {
      std::fprintf(stderr, "installed %s at %s\n", ref->ToString().c_str(), path.c_str());
    }
    if (!args.json) std::printf("%s\n", path.c_str());
    return kExitOk;
  }
  if (!f.is_object()) {
    std::fprintf(stderr, "modeld pull: %s\n", final.error.c_str());
    return kExitNetwork;
  }
  return PrintError("pull",
                    ServerFailure(f, f.value("error", std::string("the download did not finish")),
                                  Status::Code::kInternal));
}

}  // namespace

int RunPull(const PullArgs& args) {
  service::ExportRequest dl;
  if (auto rc = BuildRequest(args, &dl)) return *rc;
  if (!args.output.empty()) {
    if (dl.url.empty()) return Usage("-o exports a URL; '" + args.model + "' is not one");
    return RunExport(args, std::move(dl));
  }
  service::PullRequest req;
  if (auto rc = BuildPull(args, dl, &req)) return *rc;
  // A running server over the same store does the pull (so every app sees it), unless
  // told to work locally (or given headers or catalogs only this process knows).
  if (!args.local && req.headers.empty() && args.catalogs.empty() && args.ollama_registry.empty() &&
      args.ollama_models.empty()) {
    if (auto server = ServerClient::Discover()) {
      auto use = UseServer("pull", args.data_dir, args.quiet, *server);
      if (std::holds_alternative<int>(use)) return std::get<int>(use);
      if (std::get<bool>(use)) return RunServerPull(args, req, *server);
    }
  }
  return RunStorePull(args, std::move(req));
}

}  // namespace modeld::cli
