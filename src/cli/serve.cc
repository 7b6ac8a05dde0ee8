#include "cli/serve.h"

#include <signal.h>

#include <cstdio>
#include <cstdlib>

#include "api/generic/routes.h"
#include "api/http_server.h"
#include "api/work_queue.h"
#include "cli/exit_codes.h"
#include "cli/service_factory.h"
#include "core/log.h"
#include "service/job_manager.h"

#ifndef MODELD_VERSION
#define MODELD_VERSION "0.0.0"
#endif

namespace modeld::cli {

int RunServe(const ServeArgs& args) {
  // Signals are taken by sigwait below, on this thread; every other thread blocks them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  log::WriteInBackground();  // the access log must never hold up an answer

  auto opened = OpenService(args.data_dir, args.catalogs);
  if (!opened.has_value()) {
    std::fprintf(stderr, "modeld serve: %s\n", opened.error().message().c_str());
    return ExitCodeFor(opened.error());
  }
  service::ModelService& models = **opened;
  // Start-up reconciliation: a model whose files are gone is never served as available.
  if (auto r = models.Reconcile(); r.has_value()) {
    for (const auto& v : *r) {
      if (!v.ok) log::Warn("model {} is broken: {}", v.ref.ToString(), v.problems.front());
    }
  }
  if (Status full = service::CheckDiskFull(models.store()); !full.ok()) {
    std::fprintf(stderr, "modeld serve: %s\n", full.message().c_str());
  }
  auto jobs = std::make_unique<service::JobManager>(models, args.max_downloads);
  auto work = std::make_unique<api::WorkQueue>();
  api::generic::Context ctx{models, *jobs, *work, MODELD_VERSION};
  api::ServerOptions opts;
  if (!args.listen.empty()) opts.listen = args.listen;
  opts.token = args.token;
  opts.body_limit = args.body_limit;
  opts.threads = args.io_threads;
  api::HttpServer server(opts, api::generic::Routes(ctx));
  if (Status s = server.Start(); !s.ok()) {
    std::fprintf(stderr, "modeld serve: %s\n", s.message().c_str());
    return ExitCodeFor(s);
  }
  auto recovered = jobs->Recover();
  std::string where;
  for (const auto& b : server.bound()) where += (where.empty() ? "" : ", ") + b;
  std::fprintf(stderr, "modeld %s listening on %s (data in %s)%s\n", MODELD_VERSION, where.c_str(),
               models.store().options().data_dir.c_str(),
               recovered.has_value() && *recovered > 0
                   ? (", resuming " + std::to_string(*recovered) + " download(s)").c_str()
                   : "");
  std::fflush(stderr);

  int sig = 0;
  sigwait(&set, &sig);
  std::fprintf(stderr, "modeld: %s received, shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.Stop(std::chrono::seconds(5));  // answers in flight finish
  work.reset();
  jobs.reset();  // downloads checkpoint and stop; they resume at the next start
  return kExitOk;
}

}  // namespace modeld::cli
