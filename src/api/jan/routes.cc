#include "api/jan/routes.h"

#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/common/body.h"
#include "api/common/job_wait.h"
#include "api/jan/wire.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mutex.h"
#include "core/time_format.h"

namespace modeld::api::jan {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using service::JobState;

// The catalog Jan's model.json files form (ModelService::catalogs_dir).
constexpr std::string_view kJanCatalog = "jan";

Response Ok(const json& j) { return JsonResponse(http::status::ok, DumpJson(j)); }

// Where |ref| is installed (the store's layout: <data dir>/models/<name>/<version>).
fs::path ModelDir(Context& ctx, const ModelRef& ref) {
  return ctx.models.data_dir() / "models" / ref.name / ref.version;
}

// Reads the catalogs folder again when it changed: a model.json dropped in is a model.
void Reload(Context& ctx) {
  if (Status s = ctx.models.ReloadCatalogs(); !s.ok()) log::Warn("jan: {}", s.message());
}

// The "jan" catalog's entry for |ref| (a model.json's id is its name, version "latest").
std::optional<service::CatalogModel> JanEntry(Context& ctx, const ModelRef& ref) {
  if (ref.version != "latest") return std::nullopt;
  auto listing = ctx.models.Search("", std::string(kJanCatalog));
  for (auto& c : listing.models) {
    if (c.name == ref.name) return std::move(c);
  }
  return std::nullopt;
}

// The latest download of |ref| this server ran (any state).
std::optional<service::Job> LatestJob(Context& ctx, const ModelRef& ref) {
  auto all = ctx.jobs.List();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->request.ref == ref) return std::move(*it);
  }
  return std::nullopt;
}

// The download of |ref| not finished, if any.
std::optional<service::Job> LiveJob(Context& ctx, const std::string& id) {
  auto all = ctx.jobs.List();
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (!it->last.terminal() && (JanId(it->request.ref) == id || it->id == id)) {
      return std::move(*it);
    }
  }
  return std::nullopt;
}

Status UnknownModel(const std::string& id) {
  return Status::NotFound("Model '" + id + "' not found");
}

// The model |id| names: NotFound when modeld knows nothing of it.
Result<Entry> FindEntry(Context& ctx, const std::string& id) {
  auto ref = ParseJanId(id);
  if (!ref.has_value()) return UnknownModel(id);
  Reload(ctx);
  Entry e;
  e.ref = *ref;
  auto info = ctx.models.Info(*ref);
  if (info.has_value()) {
    e.installed = std::move(info.value());
  } else if (info.error().code() != Status::Code::kNotFound) {
    return info.error();
  }
  e.job = LatestJob(ctx, *ref);
  e.catalog = JanEntry(ctx, *ref);
  // A download that ended without installing it (failed, cancelled, removed since) does
  // not make it a model: getDownloadProgress still tells how it ended.
  if (!e.installed && !(e.job && !e.job->last.terminal()) && !e.catalog) return UnknownModel(id);
  return e;
}

// Every model to list: installed, downloading, and the "jan" catalog's entries, by id.
Result<std::map<std::string, Entry>> Gather(Context& ctx) {
  Reload(ctx);
  std::map<std::string, Entry> out;
  auto at = [&out](const ModelRef& ref) -> Entry& {
    Entry& e = out[JanId(ref)];
    e.ref = ref;
    return e;
  };
  auto view = ctx.jobs.Models();
  if (!view.has_value()) return view.error();
  for (auto& m : view->installed) {
    // With its files (the model file's path is in its settings).
    auto info = ctx.models.Info(m.ref);
    at(m.ref).installed = info.has_value() ? std::move(info.value()) : std::move(m);
  }
  for (auto& j : view->downloads) at(j.request.ref).job = std::move(j);
  auto listing = ctx.models.Search("", std::string(kJanCatalog));
  for (auto& c : listing.models) {
    ModelRef ref{c.name, "latest"};
    at(ref).catalog = std::move(c);
  }
  return out;
}

// The model named |id| loaded ("start") or unloaded ("stop").
Response StartStop(Context& ctx, const std::string& id, bool start) {
  auto ref = ParseJanId(id);
  if (!ref.has_value()) return ErrorFor(UnknownModel(id));
  if (start) {
    auto loaded = ctx.models.Load(*ref, {});
    if (!loaded.has_value()) return ErrorFor(loaded.error());
    return Ok({{"message", "Started successfully!"}, {"model", id}});
  }
  auto info = ctx.models.Info(*ref);
  if (!info.has_value()) return ErrorFor(info.error());
  ctx.models.Unload(*ref);
  return Ok({{"message", "Stopped successfully!"}, {"model", id}});
}

Route Plain(http::verb method, std::string pattern, std::string summary, Handler handler,
            Lane lane) {
  return {
      method, std::move(pattern), std::move(summary), std::move(handler), nullptr, StreamKind::kSse,
      lane};
}

std::vector<Route> Routes(Context& ctx) {
  std::vector<Route> r;
  r.push_back(Plain(
      http::verb::get, "/models", "Every model as Jan's model.json entries",
      [&ctx](const Request&, const Params&, Responder respond) {
        auto all = Gather(ctx);
        if (!all.has_value()) return respond(ErrorFor(all.error()));
        json data = json::array();
        for (const auto& [id, e] : *all) data.push_back(ModelJson(e));
        respond(Ok({{"object", "list"}, {"data", std::move(data)}}));
      },
      Lane::kStore));
  // A model.json: a catalog entry, saved in the catalogs folder.
  r.push_back(Plain(
      http::verb::post, "/models", "Save a model.json as a catalog entry",
      [&ctx](const Request& req, const Params&, Responder respond) {
        auto body = BodyReader::Parse(req.body());
        if (!body.has_value()) return respond(ErrorFor(body.error()));
        auto saved = ctx.models.SaveJanModel(body->json());
        if (!saved.has_value()) return respond(ErrorFor(saved.error()));
        auto e = FindEntry(ctx, saved->name);
        if (!e.has_value()) return respond(ErrorFor(e.error()));
        respond(Ok(ModelJson(*e)));
      },
      Lane::kStore));
  r.push_back(Plain(
      http::verb::get, "/models/*id", "One model as a model.json entry",
      [&ctx](const Request&, const Params& p, Responder respond) {
        auto e = FindEntry(ctx, p.Path("id"));
        if (!e.has_value()) return respond(ErrorFor(e.error()));
        respond(Ok(ModelJson(*e)));
      },
      Lane::kStore));
  // Its download cancelled and its files removed; a catalog entry stays in its catalog.
  r.push_back(Plain(
      http::verb::delete_, "/models/*id", "Delete a model's files (cancelling its download)",
      [&ctx](const Request&, const Params& p, Responder respond) {
        const std::string& id = p.Path("id");
        auto ref = ParseJanId(id);
        if (!ref.has_value()) return respond(ErrorFor(UnknownModel(id)));
        bool cancelled = false;
        if (auto live = LiveJob(ctx, JanId(*ref))) {
          cancelled = ctx.jobs.Cancel(live->id).ok();
        }
        auto removed = ctx.models.Remove(ref->name, ref->version, {});
        if (!removed.has_value() &&
            !(cancelled && removed.error().code() == Status::Code::kNotFound)) {
          return respond(ErrorFor(removed.error().code() == Status::Code::kNotFound
                                      ? Status::NotFound("Model '" + id + "' is not downloaded")
                                      : removed.error()));
        }
        respond(Ok({{"id", id},
                    {"object", "model"},
                    {"deleted", true},
                    {"message", "Deleted successfully"}}));
      },
      Lane::kStore));
  // Jan 0.4: starts downloading the model's files; Jan's words, 200 even when unknown.
  r.push_back(Plain(
      http::verb::get, "/models/download/*id", "Start downloading a model (Jan 0.4)",
      [&ctx](const Request&, const Params& p, Responder respond) {
        const std::string& id = p.Path("id");
        auto not_found = [&respond] { respond(Ok({{"message", "Model not found"}})); };
        auto ref = ParseJanId(id);
        if (!ref.has_value()) return not_found();
        Reload(ctx);
        const bool jan = JanEntry(ctx, *ref).has_value();
        service::PullRequest req;
        if (!service::ParsePullTarget(jan ? ref->name : id, "", &req).ok()) return not_found();
        if (jan) req.source = std::string(kJanCatalog);
        auto sub = ctx.jobs.Submit(std::move(req));
        if (!sub.has_value()) {
          switch (sub.error().code()) {
            case Status::Code::kNotFound:
              return not_found();
            case Status::Code::kAlreadyExists:
              return respond(Ok({{"message", "Model " + id + " is already downloaded"},
                                 {"id", JanId(*ref)},
                                 {"object", "model"},
                                 {"state", "downloaded"}}));
            default:
              return respond(ErrorFor(sub.error()));
          }
        }
        respond(Ok({{"message", "Starting download " + id},
                    {"id", JanId(sub->job.request.ref)},
                    {"object", "model"},
                    {"state", "downloading"}}));
      },
      Lane::kNetwork));
  r.push_back(Plain(
      http::verb::get, "/download/getDownloadProgress/*id", "A model's download progress (Jan 0.4)",
      [&ctx](const Request&, const Params& p, Responder respond) {
        auto ref = ParseJanId(p.Path("id"));
        std::optional<service::Job> job;
        if (ref.has_value()) job = LatestJob(ctx, *ref);
        if (!job) return respond(ErrorFor(Status::NotFound("Download progress not found")));
        respond(Ok(DownloadState(*job, UnixSeconds())));
      },
      Lane::kInline));
  // PUT /models/{id}/start and /stop: the action is the path's last segment (an id may
  // hold slashes); the body is the model's settings.
  r.push_back(Plain(
      http::verb::put, "/models/*path",
      "Start (ID/start) or stop (ID/stop) a model: load or unload it",
      [&ctx](const Request& req, const Params& p, Responder respond) {
        const std::string& path = p.Path("path");
        size_t slash = path.rfind('/');
        std::string action = slash == std::string::npos ? "" : path.substr(slash + 1);
        if (slash == std::string::npos || (action != "start" && action != "stop")) {
          return respond(ErrorBody(http::status::not_found,
                                   "Not found: PUT /models/{id}/start or /models/{id}/stop"));
        }
        auto id = ParseStartBody(req.body(), path.substr(0, slash));
        if (!id.has_value()) return respond(ErrorFor(id.error()));
        respond(StartStop(ctx, *id, action == "start"));
      },
      Lane::kNetwork));
  for (const bool start : {true, false}) {
    r.push_back(Plain(
        http::verb::post, start ? "/models/start" : "/models/stop",
        start ? "Start a model (load it in memory; cortex)" : "Stop a model (unload it; cortex)",
        [&ctx, start](const Request& req, const Params&, Responder respond) {
          auto id = ParseStartBody(req.body(), "");
          if (!id.has_value()) return respond(ErrorFor(id.error()));
          respond(StartStop(ctx, *id, start));
        },
        start ? Lane::kNetwork : Lane::kStore));
  }

  // cortex.
  r.push_back(Plain(
      http::verb::post, "/models/pull", "Pull a model (cortex); progress on /events",
      [&ctx](const Request& req, const Params&, Responder respond) {
        auto body = ParsePullBody(req.body());
        if (!body.has_value()) return respond(ErrorFor(body.error()));
        Reload(ctx);
        auto named = ParseModelRef(body->model);
        const bool jan = named.has_value() && JanEntry(ctx, *named).has_value();
        auto pull = PullRequestFor(*body, jan);
        if (!pull.has_value()) return respond(ErrorFor(pull.error()));
        auto sub = ctx.jobs.Submit(std::move(*pull));
        if (!sub.has_value()) return respond(ErrorFor(sub.error()));
        const service::Job& job = sub->job;
        const ModelRef& ref = job.request.ref;
        respond(Ok({{"message", "Model start downloading!"},
                    {"task", TaskJson(JanId(ref), TaskItems(job.plan, job.last.files, false,
                                                            ModelDir(ctx, ref)))}}));
      },
      Lane::kNetwork));
  r.push_back(Plain(
      http::verb::delete_, "/models/pull", "Cancel a model's pull (cortex)",
      [&ctx](const Request& req, const Params&, Responder respond) {
        auto id = ParseCancelBody(req.body());
        if (!id.has_value()) return respond(ErrorFor(id.error()));
        auto live = LiveJob(ctx, *id);
        if (!live) {
          return respond(ErrorFor(Status::NotFound("No download of '" + *id + "' is in progress")));
        }
        if (Status s = ctx.jobs.Cancel(live->id); !s.ok() && s.code() != Status::Code::kNotFound) {
          return respond(ErrorFor(s));
        }
        respond(Ok({{"message", "Download stopped successfully"}, {"taskId", *id}}));
      },
      Lane::kStore));
  // Every download's frames, to every client (cortex's /events; the client sends nothing).
  r.push_back(
      {http::verb::get, "/events", "Every download's progress on a WebSocket (cortex's /events)",
       nullptr,
       [&ctx](const Request&, const Params&, StreamReply& reply) {
         auto stream = reply.Start();
         // What each download's frames need beyond its events: its plan (the files'
         // URLs), read once per download, and whether it was seen yet.
         struct State {
           Mutex mu;
           std::map<std::string, service::PlanSummary> plans GUARDED_BY(mu);
         };
         auto st = std::make_shared<State>();
         const fs::path models_dir = ctx.models.data_dir() / "models";
         FollowAllJobs(
             ctx.jobs, stream,
             [&ctx, st, models_dir](EventStream& out, const service::JobEvent& ev) {
               if (ev.notice()) return;
               MutexLock lock(&st->mu);
               auto [it, first] = st->plans.try_emplace(ev.job_id);
               if (first) {
                 if (auto job = ctx.jobs.Get(ev.job_id); job.has_value()) it->second = job->plan;
               }
               const std::string_view type = EventType(ev.state, first && !ev.terminal());
               json frame = {
                   {"type", type},
                   {"task",
                    TaskJson(JanId(ev.model),
                             TaskItems(it->second, ev.files, ev.state == JobState::kCompleted,
                                       models_dir / ev.model.name / ev.model.version))}};
               if (!ev.status.ok()) frame["error"] = ev.status.message();
               // Progress coalesces per download; the rest is never dropped.
               out.Send(type == "DownloadUpdated" && !ev.state_change ? ev.job_id : std::string(),
                        DumpJson(frame));
               if (ev.terminal()) st->plans.erase(it);
             });
       },
       StreamKind::kWebSocket});
  return r;
}

}  // namespace

Dialect JanDialect(Context& ctx) {
  Dialect d;
  d.name = "jan";
  d.routes = Routes(ctx);
  d.error_body = ErrorBody;
  d.prefixes = {"", "/v1"};
  d.compat_port = 1337;
  return d;
}

}  // namespace modeld::api::jan
