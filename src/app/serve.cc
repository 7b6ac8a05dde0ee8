#include "app/serve.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "api/generic/routes.h"
#include "api/http_server.h"
#include "api/hub/routes.h"
#include "api/jan/routes.h"
#include "api/lmstudio/routes.h"
#include "api/ollama/routes.h"
#include "api/openapi.h"
#include "api/pieces/routes.h"
#include "api/web/routes.h"
#include "app/build_info.h"
#include "cli/exit_codes.h"
#include "core/log.h"
#include "core/redact.h"
#include "net/curl_setup.h"
#include "net/tls_trust.h"
#include "service/hub_mirror.h"
#include "service/job_manager.h"
#include "service/open.h"
#include "service/service_metrics.h"

namespace modeld::app {

using cli::ExitCodeFor;
using cli::kExitOk;

namespace {

// --token, else the first line of --token-file, else $MODELD_TOKEN.
Result<std::string> ReadToken(const ServeArgs& args) {
  if (!args.token.empty()) return args.token;
  if (!args.token_file.empty()) {
    std::ifstream in(args.token_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      return Status::InvalidArgument("cannot read a token from --token-file " + args.token_file);
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.pop_back();
    if (line.empty())
      return Status::InvalidArgument("--token-file " + args.token_file + " is empty");
    return line;
  }
  const char* env = std::getenv("MODELD_TOKEN");
  return std::string(env ? env : "");
}

}  // namespace

int RunServe(ServeArgs args) {
  // Signals are taken by sigwait below, on this thread; every other thread blocks them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  log::WriteInBackground();  // the access log must never hold up an answer
  log::Info("{}", net::CaBundleLogLine(*net::CurrentCaBundle()));

  auto token = ReadToken(args);
  if (!token.has_value()) {
    std::fprintf(stderr, "modeld serve: %s\n", token.error().message().c_str());
    return ExitCodeFor(token.error());
  }
  service::OpenOptions opening;
  opening.catalogs = args.catalogs;
  opening.ollama_models = args.ollama_models;
  opening.ollama_registry = args.ollama_registry;
  auto opened = service::OpenService(args.data_dir, opening);
  if (!opened.has_value()) {
    std::fprintf(stderr, "modeld serve: %s\n", opened.error().message().c_str());
    return ExitCodeFor(opened.error());
  }
  service::ModelService& models = **opened;
  // The process's one loader lives in the service, which outlives the server below: it is
  // destroyed (everything unloaded) only after the HttpServer has stopped.
  service::LoaderSettings loading;
  loading.max_loaded_bytes = args.max_loaded_bytes;
  if (!args.keep_alive.empty()) {
    auto keep = service::ParseKeepAlive(args.keep_alive);
    if (!keep.has_value()) {
      std::fprintf(stderr, "modeld serve: --keep-alive: %s\n", keep.error().message().c_str());
      return cli::kExitUsage;
    }
    if (keep->count() == 0) {  // every load would unload at once
      std::fprintf(stderr, "modeld serve: --keep-alive 0 would keep nothing loaded\n");
      return cli::kExitUsage;
    }
    loading.default_keep_alive = *keep;
  }
  models.ConfigureLoader(loading);
  // Start-up reconciliation: a model whose files are gone is never served as available.
  if (auto r = models.Reconcile(); r.has_value()) {
    for (const auto& v : *r) {
      if (!v.ok) log::Warn("model {} is broken: {}", v.ref.ToString(), v.problems.front());
    }
  }
  if (Status full = models.CheckDiskFull(); !full.ok()) {
    std::fprintf(stderr, "modeld serve: %s\n", full.message().c_str());
  }
  models.SetMaxRate(args.max_rate);
  models.SetMaxConnectionsPerHost(args.max_connections_per_host);
  auto jobs = std::make_unique<service::JobManager>(models, args.max_downloads);
  if (args.retry_for_s >= 0) {
    jobs->set_default_retry_for(
        std::chrono::milliseconds(static_cast<int64_t>(args.retry_for_s * 1000)));
  }
  // GET /metrics's gauges read at each scrape; removed before the job manager goes.
  metrics::Registration gauges = service::RegisterServerMetrics(models, *jobs);
  const BuildInfo& build = GetBuildInfo();
  api::generic::Context ctx{models, *jobs, build.version, build.commit, build.build_date};
  api::pieces::Context pieces_ctx{models, *jobs, build.version};
  api::lmstudio::Context lmstudio_ctx{models, *jobs, build.version};
  api::jan::Context jan_ctx{models, *jobs, build.version};
  api::ollama::Context ollama_ctx{models, *jobs, build.version};
  // The Hub mirror: over the service's store and engine, stopped after the server.
  service::MirrorOptions mirroring;
  mirroring.upstream = args.hub_upstream;
  if (mirroring.upstream.empty()) {
    const char* env = std::getenv("HF_ENDPOINT");
    mirroring.upstream = env && *env ? env : "https://huggingface.co";
  }
  for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
    const char* v = std::getenv(name);
    if (mirroring.upstream_token.empty() && v && *v) mirroring.upstream_token = v;
  }
  mirroring.allow = args.mirror_allow;
  mirroring.deny = args.mirror_deny;
  mirroring.max_file_size = args.mirror_max_file_size;
  mirroring.client_tokens = args.mirror_client_tokens;
  mirroring.ref_ttl = std::chrono::milliseconds(static_cast<int64_t>(args.mirror_ref_ttl_s * 1000));
  mirroring.lease_ttl =
      std::chrono::milliseconds(static_cast<int64_t>(args.mirror_lease_ttl_s * 1000));
  mirroring.instance = args.instance;
  std::unique_ptr<service::HubMirror> mirror = models.MakeHubMirror(mirroring);
  api::hub::Context hub_ctx{*mirror};
  std::vector<api::Dialect> dialects = {api::generic::GenericDialect(ctx),
                                        api::pieces::PiecesDialect(pieces_ctx),
                                        api::lmstudio::LmStudioDialect(lmstudio_ctx),
                                        api::jan::JanDialect(jan_ctx),
                                        api::ollama::OllamaDialect(ollama_ctx),
                                        api::hub::HubDialect(hub_ctx),
                                        api::web::WebDialect()};
  api::ServerOptions opts;
  if (!args.listen.empty()) opts.listen = args.listen;
  if (args.compat) {
    for (auto& extra : api::CompatListens(dialects, opts.listen))
      opts.listen.push_back(std::move(extra));
  }
  // GET /openapi.json: every listener's description, built once from the route tables.
  api::OpenApiDocuments openapi(dialects, opts.listen, build.version);
  ctx.openapi = &openapi;
  opts.token = *token;
  opts.allowed_hosts = args.allowed_hosts;
  opts.allowed_origins = args.allowed_origins;
  opts.max_connections = args.max_connections;
  opts.body_limit = args.body_limit;
  opts.threads = args.io_threads;
  api::HttpServer server(opts, std::move(dialects));
  if (Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "modeld serve: %s\n", s.message().c_str());
    return ExitCodeFor(s);
  }
  auto recovered = jobs->Recover();
  std::string where;
  for (const auto& b : server.bound()) where += (where.empty() ? "" : ", ") + b;
  // A shared registry is worth saying: every instance on it sees this one's models and jobs.
  const char* registry = std::getenv("MODELD_REGISTRY");  // what --registry sets
  const std::string data_in =
      models.data_dir().string() +
      (registry && *registry ? ", registry " + RedactUrl(registry) : std::string());
  std::fprintf(stderr, "modeld %s listening on %s (data in %s)%s\n", build.version, where.c_str(),
               data_in.c_str(),
               recovered.has_value() && *recovered > 0
                   ? (", resuming " + std::to_string(*recovered) + " download(s)").c_str()
                   : "");
  if (opts.token.empty()) {
    for (const auto& b : server.bound()) {
      if (b.rfind("127.", 0) != 0 && b.rfind("[::1]", 0) != 0 && b.rfind("localhost", 0) != 0) {
        std::fprintf(stderr,
                     "modeld serve: WARNING: listening on %s without --token: anyone on the "
                     "network who can reach it can use this server (start and delete downloads, "
                     "read through the Hub mirror); set --token or --token-file\n",
                     b.c_str());
        break;
      }
    }
  }
  std::fflush(stderr);

  int sig = 0;
  sigwait(&set, &sig);
  std::fprintf(stderr, "modeld: %s received, shutting down\n",
               sig == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stderr);
  // Answers in flight get a moment; requests waiting on silent upstreams (resolving a
  // model, probing a URL) end now; downloads checkpoint and stop, and resume at the next
  // start. The whole stop takes well under 2 s.
  net::AbortBlockingRequests();
  server.Stop(std::chrono::milliseconds(500));
  mirror.reset();  // its downloads checkpoint and stop
  gauges.Reset();
  jobs.reset();
  models.UnloadAll();  // then the service (and its loader) goes with |opened|
  return kExitOk;
}

}  // namespace modeld::app
