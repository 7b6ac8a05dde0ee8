#include "api/pieces/routes.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/common/body.h"
#include "api/common/job_wait.h"
#include "api/pieces/wire.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mutex.h"

namespace modeld::api::pieces {

namespace {

using nlohmann::json;
using service::JobState;

Response Json(http::status status, const json& j) { return JsonResponse(status, DumpJson(j)); }
Response Ok(const json& j) { return Json(http::status::ok, j); }
// A 200 with |body| as plain text (the well-known routes: the client reads text unless the
// Content-Type says JSON).
Response Text(std::string body) {
  Response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

using Entries = std::map<std::string, Entry>;  // by "name:version"

// The Pieces OS version /.well-known/version claims (the API the dialect follows).
constexpr std::string_view kPiecesVersion = "10.0.0";

// Model ids to references, and which are installed: what the progress WebSocket (on an I/O
// thread, where the store may not be read) resolves ids with. Filled by every gathering of
// the models (Gather) and kept current by the job events.
class Index {
 public:
  struct Known {
    ModelRef ref;
    bool installed = false;
  };
  void Refresh(const Entries& all) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    by_id_.clear();
    for (const auto& [key, e] : all) {
      by_id_[ModelUuid(e.ref)] = {e.ref, e.installed && e.installed->status == "available"};
    }
  }
  void Note(const ModelRef& ref, std::optional<bool> installed) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    Known& k = by_id_[ModelUuid(ref)];
    k.ref = ref;
    if (installed) k.installed = *installed;
  }
  // |key| is an id or a reference.
  std::optional<Known> Find(const std::string& key) EXCLUDES(mu_) {
    std::string id = key;
    if (!IsUuid(key)) {
      auto ref = ParseModelRef(key);
      if (!ref.has_value()) return std::nullopt;
      id = ModelUuid(*ref);
    }
    std::transform(id.begin(), id.end(), id.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    MutexLock lock(&mu_);
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return std::nullopt;
    return it->second;
  }

 private:
  Mutex mu_;
  std::map<std::string, Known> by_id_ GUARDED_BY(mu_);
};

// Every model modeld knows, by reference: installed, downloading, registered, in a catalog.
Result<Entries> Gather(Context& ctx, Index& index) {
  Entries out;
  auto at = [&out](const ModelRef& ref) -> Entry& {
    Entry& e = out[ref.ToString()];
    e.ref = ref;
    return e;
  };
  auto view = ctx.jobs.Models();
  if (!view.has_value()) return view.error();
  for (auto& m : view->installed) at(m.ref).installed = std::move(m);
  for (auto& j : view->downloads) at(j.request.ref).job = std::move(j);
  auto registered = ctx.models.Registered();
  if (!registered.has_value()) return registered.error();
  for (auto& r : *registered) at(r.ref).registered = std::move(r);
  for (const auto& c : ctx.models.Search("").models) {
    for (const auto& v : c.versions) {
      ModelRef ref{c.name, v.version};
      if (!ValidateModelName(ref.name).ok() || !ValidateVersion(ref.version).ok()) continue;
      Entry& e = at(ref);
      e.catalog = c;
      e.catalog_size = v.size;
    }
  }
  index.Refresh(out);
  return out;
}

// The model |key| (an id or a reference) names. NotFound (410) when modeld knows none.
Result<Entry> FindEntry(Context& ctx, Index& index, const std::string& key) {
  auto all = Gather(ctx, index);
  if (!all.has_value()) return all.error();
  std::string id;
  if (IsUuid(key)) {
    id = key;
    std::transform(id.begin(), id.end(), id.begin(),
                   [](unsigned char c) { return std::tolower(c); });
  } else if (auto ref = ParseModelRef(key); ref.has_value()) {
    id = ModelUuid(*ref);
  }
  for (auto& [ref, e] : *all) {
    if (ModelUuid(e.ref) == id) return std::move(e);
  }
  return Status::NotFound("model '" + key + "' was not found");
}

// The request that downloads |e|: a registered model's target, else the reference itself
// (a catalog model, a Hub repository, or a broken install repaired from its recorded
// source).
Result<service::PullRequest> PullFor(Context& ctx, const Entry& e) {
  if (e.registered) return ctx.models.PullRequestFor(*e.registered);
  service::PullRequest req;
  if (Status s = service::ParsePullTarget(e.ref.ToString(), "", &req); !s.ok()) return s;
  return req;
}

// The progress of |e| now: its download's, COMPLETED when installed, else UNKNOWN.
json ProgressNow(const Entry& e) {
  if (e.job) return ProgressJson(ProgressStatus(e.job->last.state), Percentage(e.job->last));
  if (e.installed && e.installed->status == "available") return ProgressJson("COMPLETED", 100.0);
  return ProgressJson("UNKNOWN", std::nullopt);
}

// Handlers that answer a Model for the model in the path.
using ModelAction = std::function<Result<Entry>(Context&, Index&, Entry)>;

Handler ModelHandler(Context& ctx, std::shared_ptr<Index> index, ModelAction action) {
  return [&ctx, index, action](const Request&, const Params& p, Responder respond) {
    auto e = FindEntry(ctx, *index, p.Path("model"));
    if (!e.has_value()) return respond(ErrorFor(e.error()));
    auto done = action(ctx, *index, std::move(*e));
    if (!done.has_value()) return respond(ErrorFor(done.error()));
    respond(Ok(ModelJson(*done)));
  };
}

// |e| as it is now (after an action changed it).
Result<Entry> Again(Context& ctx, Index& index, const Entry& e) {
  return FindEntry(ctx, index, ModelUuid(e.ref));
}

std::vector<Route> Routes(Context& ctx, std::shared_ptr<Index> index) {
  std::vector<Route> r;
  r.push_back({http::verb::get, "/.well-known/health", "Liveness check: \"ok\" (no token needed)",
               [](const Request&, const Params&, Responder respond) { respond(Text("ok")); },
               nullptr, StreamKind::kSse, Lane::kInline, /*public_path=*/true});
  r.push_back({http::verb::get, "/.well-known/version",
               "A Pieces OS version with modeld's as build metadata (no token needed)",
               [&ctx](const Request&, const Params&, Responder respond) {
                 // Pieces' plugins refuse a Pieces OS older than their minimum (9.0.2 for
                 // one): a Pieces version, with modeld's own as build metadata (which
                 // semver comparisons ignore).
                 respond(Text(std::string(kPiecesVersion) + "+modeld." + ctx.version));
               },
               nullptr, StreamKind::kSse, Lane::kInline, /*public_path=*/true});

  // ModelsApi.
  r.push_back({http::verb::get, "/models",
               "Every model with its Pieces id (ModelsApi.modelsSnapshot)",
               [&ctx, index](const Request&, const Params&, Responder respond) {
                 auto all = Gather(ctx, *index);
                 if (!all.has_value()) return respond(ErrorFor(all.error()));
                 json arr = json::array();
                 for (const auto& [ref, e] : *all) arr.push_back(ModelJson(e));
                 respond(Ok({{"iterable", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::post, "/models/create",
               "Register a custom model (ModelsApi.modelsCreateNewModel)",
               [&ctx, index](const Request& req, const Params&, Responder respond) {
                 auto seeded = ParseSeededModel(req.body());
                 if (!seeded.has_value()) return respond(ErrorFor(seeded.error()));
                 auto created =
                     ctx.models.CreateCustom(seeded->ref, seeded->target, seeded->fields);
                 if (!created.has_value()) return respond(ErrorFor(created.error()));
                 auto e = FindEntry(ctx, *index, ModelUuid(seeded->ref));
                 if (!e.has_value()) return respond(ErrorFor(e.error()));
                 respond(Ok(ModelJson(*e)));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::post, "/models/unload",
               "Unload every loaded model (ModelsApi.unloadModels)",
               [&ctx](const Request&, const Params&, Responder respond) {
                 size_t n = ctx.models.UnloadAll();
                 respond(Ok({{"unloaded", n}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // Its files and its entry: an installed model is removed, a registered one forgotten (a
  // catalog model stays in its catalog, not downloaded).
  r.push_back({http::verb::post, "/models/:model/delete",
               "Delete a model's files and entry (ModelsApi.modelsDeleteSpecificModel)",
               [&ctx, index](const Request&, const Params& p, Responder respond) {
                 auto e = FindEntry(ctx, *index, p.Path("model"));
                 if (!e.has_value()) return respond(ErrorFor(e.error()));
                 if (e->job) (void)ctx.jobs.Cancel(e->job->id);
                 if (e->installed) {
                   auto removed = ctx.models.Remove(e->ref.name, e->ref.version, {});
                   if (!removed.has_value()) return respond(ErrorFor(removed.error()));
                 }
                 if (e->registered) {
                   auto gone = ctx.models.Unregister(e->ref);
                   if (!gone.has_value()) return respond(ErrorFor(gone.error()));
                 }
                 (void)Gather(ctx, *index);
                 respond(Ok(json::object()));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // Its files, keeping the entry (it can be downloaded again): ModelDeleteCacheOutput.
  r.push_back(
      {http::verb::post, "/models/:model/delete/cache",
       "Delete a model's files, keeping its entry (ModelsApi.modelsDeleteSpecificModelCache)",
       [&ctx, index](const Request&, const Params& p, Responder respond) {
         auto e = FindEntry(ctx, *index, p.Path("model"));
         if (!e.has_value()) return respond(ErrorFor(e.error()));
         if (e->installed) {
           auto removed = ctx.models.RemoveFilesKeepEntry(e->ref, {});
           if (!removed.has_value()) return respond(ErrorFor(removed.error()));
         }
         auto now = Again(ctx, *index, *e);
         if (!now.has_value()) return respond(ErrorFor(now.error()));
         respond(Ok({{"model", {{"id", ModelUuid(e->ref)}, {"reference", ModelJson(*now)}}}}));
       },
       nullptr, StreamKind::kSse, Lane::kStore});

  // ModelApi.
  r.push_back(
      {http::verb::get, "/model/:model", "One model (ModelApi.modelSpecificModelSnapshot)",
       ModelHandler(ctx, index, [](Context&, Index&, Entry e) -> Result<Entry> { return e; }),
       nullptr, StreamKind::kSse, Lane::kStore});
  // Resolves the model up front (network), as the generic API does: an unknown Hub model
  // or a full disk is an error before anything is queued.
  r.push_back({http::verb::post, "/model/:model/download",
               "Start downloading a model (ModelApi.modelSpecificModelDownload)",
               ModelHandler(ctx, index,
                            [](Context& c, Index& idx, Entry e) -> Result<Entry> {
                              if (e.installed && e.installed->status == "available") return e;
                              if (e.job) return e;  // downloading: joined
                              auto req = PullFor(c, e);
                              if (!req.has_value()) return req.error();
                              auto submitted = c.jobs.Submit(std::move(*req));
                              if (!submitted.has_value()) return submitted.error();
                              idx.Note(e.ref, std::nullopt);
                              e.job = submitted->job;
                              return e;
                            }),
               nullptr, StreamKind::kSse, Lane::kNetwork});
  r.push_back({http::verb::post, "/model/:model/download/cancel",
               "Cancel a model's download (ModelApi.modelSpecificModelDownloadCancel)",
               ModelHandler(ctx, index,
                            [](Context& c, Index& idx, Entry e) -> Result<Entry> {
                              if (!e.job) return e;  // nothing to cancel
                              const std::string job = e.job->id;
                              if (Status s = c.jobs.Cancel(job);
                                  !s.ok() && s.code() != Status::Code::kNotFound) {
                                return s;
                              }
                              auto now = Again(c, idx, e);
                              // Its thread may still be stopping: it downloads no more.
                              if (now.has_value() && now->job && now->job->id == job)
                                now->job.reset();
                              return now;
                            }),
               nullptr, StreamKind::kSse, Lane::kStore});
  // Load blocks while the pages are read: the network lane, whose threads may wait.
  r.push_back({http::verb::post, "/model/:model/load",
               "Load a model in memory (ModelApi.modelSpecificModelLoad)",
               ModelHandler(ctx, index,
                            [](Context& c, Index& idx, Entry e) -> Result<Entry> {
                              auto loaded = c.models.Load(e.ref, {});
                              if (!loaded.has_value()) return loaded.error();
                              return Again(c, idx, e);
                            }),
               nullptr, StreamKind::kSse, Lane::kNetwork});
  r.push_back({http::verb::post, "/model/:model/unload",
               "Unload a model from memory (ModelApi.modelSpecificModelUnload)",
               ModelHandler(ctx, index,
                            [](Context& c, Index& idx, Entry e) -> Result<Entry> {
                              c.models.Unload(e.ref);
                              return Again(c, idx, e);
                            }),
               nullptr, StreamKind::kSse, Lane::kStore});
  // A Model as the client has it, changed: only a custom model's own fields change.
  r.push_back({http::verb::post, "/model/update",
               "Change a custom model's fields (ModelApi.modelUpdate)",
               [&ctx, index](const Request& req, const Params&, Responder respond) {
                 auto body = BodyReader::Parse(req.body());
                 if (!body.has_value()) return respond(ErrorFor(body.error()));
                 std::string id;
                 if (!body->Str("id", &id, /*required=*/true))
                   return respond(ErrorFor(body->error()));
                 auto e = FindEntry(ctx, *index, id);
                 if (!e.has_value()) return respond(ErrorFor(e.error()));
                 if (!e->registered || !e->registered->custom) {
                   return respond(ErrorFor(Status::FailedPrecondition(
                       "model '" + e->ref.ToString() +
                       "' was not created as a custom model (POST /models/create): it cannot be "
                       "changed")));
                 }
                 auto updated = ctx.models.UpdateCustom(e->ref, body->json());
                 if (!updated.has_value()) return respond(ErrorFor(updated.error()));
                 auto now = Again(ctx, *index, *e);
                 if (!now.has_value()) return respond(ErrorFor(now.error()));
                 respond(Ok(ModelJson(*now)));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  // The progress of one model's downloads: the state now, at once, then each download's
  // INITIALIZED, IN-PROGRESS (percentage never going back) and one COMPLETED, FAILED or
  // CANCELED. The socket stays open across downloads. A plain GET answers the state now.
  r.push_back(
      {http::verb::get, "/model/:model/download/progress",
       "A model's download progress on a WebSocket (a plain GET: the state now)",
       [&ctx, index](const Request&, const Params& p, Responder respond) {
         auto e = FindEntry(ctx, *index, p.Path("model"));
         if (!e.has_value()) return respond(ErrorFor(e.error()));
         respond(Ok(ProgressNow(*e)));
       },
       [&ctx, index](const Request&, const Params& p, StreamReply& reply) {
         // On the I/O thread: the index and the job table, no store.
         auto known = index->Find(p.Path("model"));
         if (!known) {
           return reply.Reject(
               ErrorFor(Status::NotFound("model '" + p.Path("model") + "' was not found")));
         }
         const ModelRef ref = known->ref;
         auto stream = reply.Start();
         struct State {
           Mutex mu;
           std::string job GUARDED_BY(mu);    // the download followed
           double high GUARDED_BY(mu) = 0;    // the highest percentage sent for it
           bool sent GUARDED_BY(mu) = false;  // a frame went out: the state now is known
         };
         auto st = std::make_shared<State>();
         FollowAllJobs(ctx.jobs, stream, [ref, st](EventStream& out, const service::JobEvent& ev) {
           if (!(ev.model == ref) || ev.notice()) return;
           MutexLock lock(&st->mu);
           st->sent = true;
           if (ev.job_id != st->job) {  // a new download of it
             st->job = ev.job_id;
             st->high = 0;
             if (!ev.terminal()) out.Send("", DumpJson(ProgressJson("INITIALIZED", std::nullopt)));
           }
           std::string_view status = ProgressStatus(ev.state);
           if (ev.terminal()) {
             out.Send("", DumpJson(ProgressJson(status, ev.state == JobState::kCompleted
                                                            ? std::optional<double>(100.0)
                                                            : std::nullopt)));
             return;
           }
           if (status != "IN-PROGRESS") return;
           std::optional<double> pct = Percentage(ev);
           if (pct) st->high = std::max(st->high, *pct);
           out.Send("progress", DumpJson(ProgressJson(status, st->high)));
         });
         // Where it stands now, unless an event said it already (subscribed first, so
         // nothing falls between).
         MutexLock lock(&st->mu);
         if (st->sent) return;
         st->sent = true;
         for (const auto& job : ctx.jobs.List()) {
           if (job.request.ref == ref && !job.last.terminal()) {
             st->job = job.id;
             std::optional<double> pct = Percentage(job.last);
             if (pct) st->high = *pct;
             stream->Send("", DumpJson(ProgressJson(ProgressStatus(job.last.state), pct)));
             return;
           }
         }
         stream->Send("", DumpJson(ProgressJson(
                              known->installed ? "COMPLETED" : "UNKNOWN",
                              known->installed ? std::optional<double>(100.0) : std::nullopt)));
       },
       StreamKind::kWebSocket});
  return r;
}

}  // namespace

Dialect PiecesDialect(Context& ctx) {
  auto index = std::make_shared<Index>();
  if (auto all = Gather(ctx, *index); !all.has_value()) {
    log::Warn("Pieces: could not list the models for their ids: {}", all.error().ToString());
  }
  // Downloads started by any dialect or the CLI through the server: their models' ids.
  ctx.jobs.events().Subscribe([index](const service::JobEvent& ev) {
    if (ev.state_change) {
      index->Note(ev.model,
                  ev.state == JobState::kCompleted ? std::optional<bool>(true) : std::nullopt);
    }
  });
  Dialect d;
  d.name = "pieces";
  d.routes = Routes(ctx, index);
  d.error_body = ErrorBody;
  d.compat_port = 1000;
  return d;
}

}  // namespace modeld::api::pieces
