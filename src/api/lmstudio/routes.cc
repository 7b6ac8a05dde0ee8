#include "api/lmstudio/routes.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "api/lmstudio/wire.h"
#include "core/json.h"
#include "core/time_format.h"

namespace modeld::api::lmstudio {

namespace {

using nlohmann::json;

// A 200 with |j|; bytes that are not UTF-8 (none are expected) become U+FFFD, never a throw.
Response Ok(const json& j) { return JsonResponse(http::status::ok, DumpJson(j)); }

// A Hub repository named with nothing chosen in it (no quantization, file, revision-less
// version): a link to it, or an org/name no catalog knows.
struct HubRepo {
  std::string repo, revision;
  bool link = false;
};
std::optional<HubRepo> UnselectedHubRepo(Context& ctx, const std::string& model) {
  service::PullRequest probe;
  if (!service::ParsePullTarget(model, "", &probe).ok()) return std::nullopt;
  if (!probe.url.empty() || !probe.include.empty() || probe.ref.version != "latest")
    return std::nullopt;
  if (probe.source == "huggingface") return HubRepo{probe.ref.name, probe.revision, true};
  if (probe.ref.name.find('/') == std::string::npos) return std::nullopt;
  const service::CatalogListing catalogs = ctx.models.Search(probe.ref.name);
  for (const auto& c : catalogs.models) {
    if (c.name == probe.ref.name) return std::nullopt;  // a catalog id
  }
  return HubRepo{probe.ref.name, "", false};
}

// POST /api/v1/models/download. Blocks while it resolves (the network lane).
void Download(Context& ctx, const Request& req, Responder respond) {
  auto body = ParseDownloadRequest(req.body());
  if (!body.has_value()) return respond(ErrorFor(body.error()));
  std::string quantization = body->quantization;
  if (quantization.empty()) {
    if (auto hub = UnselectedHubRepo(ctx, body->model)) {
      auto picked = ctx.models.DefaultQuantization(hub->repo, hub->revision);
      if (picked.has_value()) {
        quantization = *picked;
      } else if (hub->link || picked.error().code() != Status::Code::kNotFound) {
        return respond(ErrorFor(picked.error()));
      }  // an org/name the Hub does not know: Submit says it as for any unknown model
    }
  }
  service::PullRequest pull;
  pull.quantization = quantization;
  if (Status s = service::ParsePullTarget(body->model, "", &pull); !s.ok())
    return respond(ErrorFor(s));
  auto submitted = ctx.jobs.Submit(std::move(pull));
  if (!submitted.has_value()) {
    if (submitted.error().code() == Status::Code::kAlreadyExists)
      return respond(Ok(AlreadyDownloadedJson(quantization)));
    return respond(ErrorFor(submitted.error()));
  }
  respond(Ok(JobJson(submitted->job, UnixSeconds())));
}

// The installed models that can be used (broken ones cannot be loaded).
Result<std::vector<service::Model>> Available(Context& ctx) {
  auto all = ctx.models.List();
  if (!all.has_value()) return all.error();
  std::vector<service::Model> out;
  for (auto& m : *all) {
    if (m.status == "available") out.push_back(std::move(m));
  }
  return out;
}

// POST /api/v1/models/load. Blocks while the pages are read (the network lane).
void Load(Context& ctx, const Request& req, Responder respond) {
  auto body = ParseLoadRequest(req.body());
  if (!body.has_value()) return respond(ErrorFor(body.error()));
  auto ref = RefForKey(body->model);
  if (!ref.has_value()) return respond(ErrorFor(ref.error()));
  auto loaded = ctx.models.Load(*ref, {});
  if (!loaded.has_value()) return respond(ErrorFor(loaded.error()));
  const service::Model& m = loaded->model;
  json j = {{"type", ModelType(m)},
            {"instance_id", KeyFor(m.ref)},
            {"load_time_seconds",
             std::round(static_cast<double>(loaded->load_time.count()) / 10.0) / 100.0},
            {"status", "loaded"}};
  if (body->echo_load_config) {
    json config = json::object();
    uint64_t max_context = m.inspection ? m.inspection->context_length : 0;
    if (body->context_length) {
      config["context_length"] = *body->context_length;
    } else if (max_context > 0) {
      config["context_length"] = max_context;
    }
    if (body->eval_batch_size) config["eval_batch_size"] = *body->eval_batch_size;
    if (body->flash_attention) config["flash_attention"] = *body->flash_attention;
    if (body->num_experts) config["num_experts"] = *body->num_experts;
    if (body->offload_kv_cache_to_gpu)
      config["offload_kv_cache_to_gpu"] = *body->offload_kv_cache_to_gpu;
    j["load_config"] = config;
  }
  respond(Ok(j));
}

std::vector<Route> Routes(Context& ctx) {
  std::vector<Route> r;
  r.push_back({http::verb::post, "/api/v1/models/download",
               "Start downloading a catalog model or a Hub link (LM Studio REST v1)",
               [&ctx](const Request& req, const Params&, Responder respond) {
                 Download(ctx, req, std::move(respond));
               },
               nullptr, StreamKind::kSse, Lane::kNetwork});
  r.push_back({http::verb::get, "/api/v1/models/download/status/:job_id",
               "A download job's status and bytes",
               [&ctx](const Request&, const Params& p, Responder respond) {
                 auto job = ctx.jobs.Get(p.Path("job_id"));
                 if (!job.has_value()) {
                   return respond(
                       ErrorFor(Status::NotFound("no download job '" + p.Path("job_id") + "'"),
                                "job_not_found"));
                 }
                 respond(Ok(JobJson(*job, UnixSeconds())));
               },
               nullptr, StreamKind::kSse, Lane::kInline});
  r.push_back({http::verb::get, "/api/v1/models", "The downloaded models (LM Studio REST v1)",
               [&ctx](const Request&, const Params&, Responder respond) {
                 auto models = Available(ctx);
                 if (!models.has_value()) return respond(ErrorFor(models.error()));
                 json arr = json::array();
                 for (const auto& m : *models) arr.push_back(ModelEntryJson(m));
                 respond(Ok({{"models", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::post, "/api/v1/models/load", "Load a model in memory",
               [&ctx](const Request& req, const Params&, Responder respond) {
                 Load(ctx, req, std::move(respond));
               },
               nullptr, StreamKind::kSse, Lane::kNetwork});
  r.push_back({http::verb::post, "/api/v1/models/unload", "Unload a loaded model instance",
               [&ctx](const Request& req, const Params&, Responder respond) {
                 auto id = ParseUnloadRequest(req.body());
                 if (!id.has_value()) return respond(ErrorFor(id.error()));
                 auto ref = RefForKey(*id);
                 if (!ref.has_value()) return respond(ErrorFor(ref.error()));
                 if (!ctx.models.Unload(*ref)) {
                   return respond(ErrorFor(Status::NotFound("no loaded instance '" + *id + "'"),
                                           "instance_not_found"));
                 }
                 respond(Ok({{"instance_id", *id}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  r.push_back({http::verb::get, "/api/v0/models",
               "The downloaded models (the legacy REST v0 listing)",
               [&ctx](const Request&, const Params&, Responder respond) {
                 auto models = Available(ctx);
                 if (!models.has_value()) return respond(ErrorFor(models.error()));
                 json arr = json::array();
                 for (const auto& m : *models) arr.push_back(LegacyModelJson(m));
                 respond(Ok({{"object", "list"}, {"data", arr}}));
               },
               nullptr, StreamKind::kSse, Lane::kStore});
  return r;
}

}  // namespace

Dialect LmStudioDialect(Context& ctx) {
  Dialect d;
  d.name = "lmstudio";
  d.routes = Routes(ctx);
  d.error_body = ErrorBody;
  d.compat_port = 1234;
  return d;
}

}  // namespace modeld::api::lmstudio
