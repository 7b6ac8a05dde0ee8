#include "api/ollama/routes.h"

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "api/common/job_wait.h"
#include "api/ollama/wire.h"
#include "core/json.h"
#include "core/log.h"

namespace modeld::api::ollama {

namespace {

using nlohmann::json;
using service::JobState;

Response Ok(const json& j) { return JsonResponse(http::status::ok, DumpJson(j)); }
// Ollama's delete and copy answer 200 with no body.
Response Empty() {
  Response r{http::status::ok, 11};
  r.prepare_payload();
  return r;
}

Status ModelNotFound(const std::string& name) {
  return Status::NotFound("model '" + name + "' not found");
}

// The installed model an Ollama name means (CandidateRefs, in order).
Result<service::Model> FindModel(Context& ctx, const std::string& name) {
  for (const ModelRef& ref : CandidateRefs(name)) {
    auto m = ctx.models.Info(ref);
    if (m.has_value()) return m;
    if (m.error().code() != Status::Code::kNotFound) return m.error();
  }
  return ModelNotFound(name);
}

// The model of Ollama's own directory |name| means, if any.
std::optional<service::OllamaDirModel> FindInOllamaDir(Context& ctx, const std::string& name) {
  auto parsed = ParseOllamaName(name);
  if (!parsed.has_value()) return std::nullopt;
  for (auto& m : ctx.models.OllamaDirModels()) {
    if (m.name == *parsed) return std::move(m);
  }
  return std::nullopt;
}

// What a pull of |name| runs: a catalog's model (a name without '/' a catalog knows), a
// Hub repository (hf.co/org/repo[:QUANT]; without a quantization, the one LM Studio and
// Ollama pick), or the Ollama registry's model.
Result<service::PullRequest> PullFor(Context& ctx, const std::string& name, bool insecure) {
  auto parsed = ParseOllamaName(name);
  if (!parsed.has_value()) return Status::InvalidArgument("invalid model name");
  service::PullRequest pull;
  pull.options.verify_ssl = !insecure;
  if (parsed->OnHub()) {
    const std::string repo = parsed->ns + "/" + parsed->model;
    pull.ref = {repo, parsed->tag};
    pull.source = "huggingface";
    if (parsed->tag == "latest") {
      auto picked = ctx.models.DefaultQuantization(repo, "");
      if (!picked.has_value()) return picked.error();
      pull.quantization = *picked;
    }
    return pull;
  }
  if (name.find('/') == std::string::npos) {
    const std::string bare = parsed->model;
    for (const auto& c : ctx.models.Search(bare).models) {
      if (c.name != bare) continue;
      if (Status s = service::ParsePullTarget(name, "", &pull); !s.ok()) return s;
      return pull;
    }
  }
  auto ref = parsed->ToModelRef();
  if (!ref.has_value()) return ref.error();
  pull.ref = *ref;
  pull.source = "ollama";
  return pull;
}

std::string Line(const json& j) { return DumpJson(j) + "\n"; }

// The lines of a pull that found the model installed: each file complete, then success.
std::vector<json> InstalledLines(Context& ctx, const ModelRef& ref) {
  std::vector<json> out;
  if (auto m = ctx.models.Info(ref); m.has_value()) {
    for (const auto& f : m->files) {
      out.push_back({{"status", "pulling " + ShortDigest(f.sha256)},
                     {"digest", "sha256:" + f.sha256},
                     {"total", f.size},
                     {"completed", f.size}});
    }
  }
  out.push_back({{"status", "verifying sha256 digest"}});
  out.push_back({{"status", "writing manifest"}});
  out.push_back({{"status", "success"}});
  return out;
}

// The streamed pull, after "pulling manifest": on a network-pool thread.
void StreamPull(Context& ctx, const PullBody& body, const std::shared_ptr<EventStream>& stream) {
  auto fail = [&stream](const Status& s) {
    stream->Send("", Line({{"error", s.message()}}));
    stream->Close();
  };
  auto pull = PullFor(ctx, body.model, body.insecure);
  if (!pull.has_value()) return fail(pull.error());
  const ModelRef ref = pull->ref;
  auto submitted = ctx.jobs.Submit(std::move(*pull));
  if (!submitted.has_value()) {
    if (submitted.error().code() != Status::Code::kAlreadyExists) return fail(submitted.error());
    for (const auto& l : InstalledLines(ctx, ref)) stream->Send("", Line(l));
    return stream->Close();
  }
  auto sent = std::make_shared<PullLines>();
  Status s = FollowJob(ctx.jobs, submitted->job.id, stream,
                       [sent](EventStream& out, const service::JobEvent& e) {
                         for (const auto& l : PullEventLines(e, *sent)) {
                           // Progress coalesces per file; status lines are never dropped.
                           const bool progress = l.contains("completed") || l.contains("total");
                           out.Send(progress ? "f:" + l.value("digest", "") : "", Line(l));
                         }
                         return sent->stage < 3;
                       });
  if (!s.ok()) fail(s);
}

void PullStream(Context& ctx, const Request& req, StreamReply& reply) {
  auto body = ParsePullRequest(req.body());
  if (!body.has_value()) return reply.Reject(ErrorFor(body.error()));
  if (!body->stream) {
    if (!reply.Plain()) reply.Reject(Error(http::status::internal_server_error, "no handler"));
    return;
  }
  // A name that cannot be one is refused before any line, as Ollama does.
  if (!ParseOllamaName(body->model).has_value())
    return reply.Reject(Error(http::status::bad_request, "invalid model name"));
  auto stream = reply.Start();
  if (!stream) return;
  stream->Send("", Line({{"status", "pulling manifest"}}));
  // Held until the pull is submitted: a client gone by then still starts it (Ollama's
  // way); FollowJob then holds it weakly.
  bool posted = reply.Post([&ctx, b = *body, stream]() { StreamPull(ctx, b, stream); });
  if (!posted) {
    stream->Send("", Line({{"error", "Too many requests in progress; try again shortly"}}));
    stream->Close();
  }
}

// stream:false: one answer when the pull ends (the network lane).
void PullOnce(Context& ctx, const Request& req, Responder respond) {
  auto body = ParsePullRequest(req.body());
  if (!body.has_value()) return respond(ErrorFor(body.error()));
  auto pull = PullFor(ctx, body->model, body->insecure);
  if (!pull.has_value()) return respond(ErrorFor(pull.error()));
  auto submitted = ctx.jobs.Submit(std::move(*pull));
  if (!submitted.has_value()) {
    if (submitted.error().code() == Status::Code::kAlreadyExists)
      return respond(Ok({{"status", "success"}}));
    return respond(ErrorFor(submitted.error()));
  }
  WhenJobEnds(ctx.jobs, submitted->job.id, [respond](Result<service::Job> job) {
    if (!job.has_value()) return respond(ErrorFor(job.error()));
    if (job->last.state == JobState::kCompleted) return respond(Ok({{"status", "success"}}));
    Status why = job->last.status;
    if (why.ok())
      why = Status::Internal("pull " + std::string(service::JobStateName(job->last.state)));
    respond(ErrorFor(why));
  });
}

void Tags(Context& ctx, Responder respond) {
  auto all = ctx.models.List();
  if (!all.has_value()) return respond(ErrorFor(all.error()));
  std::vector<std::pair<int64_t, json>> rows;
  std::set<std::string> names;
  for (const auto& m : *all) {
    if (m.status != "available") continue;
    json t = TagJson(m);
    names.insert(t["name"].get<std::string>());
    rows.push_back({m.installed_at, std::move(t)});
  }
  for (const auto& m : ctx.models.OllamaDirModels()) {
    if (names.count(m.name.Shortest())) continue;
    rows.push_back({m.modified, TagJson(m)});
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  json models = json::array();
  for (auto& [t, j] : rows) models.push_back(std::move(j));
  respond(Ok({{"models", std::move(models)}}));
}

// Ollama's "parameters": one "key value" line per parameter of the params layer.
std::string ParametersText(const std::string& params_json) {
  json p = ParseJsonOrDiscarded(params_json);
  if (!p.is_object()) return "";
  std::string out;
  for (const auto& [k, v] : p.items()) {
    for (const auto& item : v.is_array() ? v : json::array({v})) {
      std::string key = k;
      key.resize(std::max<size_t>(key.size(), 30), ' ');
      out += key + " " + DumpJson(item) + "\n";
    }
  }
  if (!out.empty()) out.pop_back();
  return out;
}

void Show(Context& ctx, const Request& req, Responder respond) {
  auto body = ParseModelRequest(req.body());
  if (!body.has_value()) return respond(ErrorFor(body.error()));
  auto m = FindModel(ctx, body->model);
  if (!m.has_value()) {
    if (m.error().code() != Status::Code::kNotFound) return respond(ErrorFor(m.error()));
    if (auto dir = FindInOllamaDir(ctx, body->model)) {
      return respond(Ok({{"details", DetailsJson(*dir)},
                         {"model_info", json::object()},
                         {"modified_at", GoTime(std::chrono::system_clock::time_point(
                                             std::chrono::seconds(dir->modified)))}}));
    }
    auto full = ParseOllamaName(body->model);
    return respond(ErrorFor(ModelNotFound(full.has_value() ? full->Shortest() : body->model)));
  }
  json out = {
      {"details", DetailsJson(*m)},
      {"modified_at",
       GoTime(std::chrono::system_clock::time_point(std::chrono::seconds(m->installed_at)))}};
  json info = json::object();
  if (m->inspection && m->inspection->details.is_object() &&
      m->inspection->details.contains("gguf_metadata")) {
    info = m->inspection->details["gguf_metadata"];
    if (!body->verbose && info.is_object()) {
      for (auto& [k, v] : info.items()) {
        if (v.is_array() && v.size() > 5) v = json::array();
      }
    }
  }
  out["model_info"] = info.is_object() ? info : json::object();
  constexpr size_t kMaxText = 1 << 20;
  auto text = [&](const char* path) -> std::string {
    auto t = ctx.models.ReadModelFile(*m, path, kMaxText);
    return t.has_value() ? *t : std::string();
  };
  if (std::string t = text("template"); !t.empty()) out["template"] = t;
  if (std::string s = text("system"); !s.empty()) out["system"] = s;
  if (std::string l = text("license"); !l.empty()) out["license"] = l;
  if (std::string p = ParametersText(text("params")); !p.empty()) out["parameters"] = p;
  json caps = json::array({"completion"});
  bool projector = std::any_of(m->files.begin(), m->files.end(),
                               [](const auto& f) { return f.path == "projector.gguf"; });
  if (projector) caps.push_back("vision");
  if (out.value("template", "").find(".Tools") != std::string::npos) caps.push_back("tools");
  out["capabilities"] = caps;
  std::string modelfile = "# Modelfile generated by modeld\nFROM " + m->OpenPath().string() + "\n";
  if (out.contains("template"))
    modelfile += "TEMPLATE \"\"\"" + out["template"].get<std::string>() + "\"\"\"\n";
  out["modelfile"] = modelfile;
  respond(Ok(out));
}

void Delete(Context& ctx, const Request& req, Responder respond) {
  auto body = ParseModelRequest(req.body());
  if (!body.has_value()) return respond(ErrorFor(body.error()));
  auto ollama_name = ParseOllamaName(body->model);
  auto m = FindModel(ctx, body->model);
  if (!m.has_value() && m.error().code() != Status::Code::kNotFound)
    return respond(ErrorFor(m.error()));
  // Ollama's own copy goes too when it is this model (it would be listed again), or when
  // only Ollama has it; never an Ollama model that merely shares a catalog model's name.
  bool in_ollama_dir = false;
  if (ollama_name.has_value() && !ollama_name->OnHub()) {
    auto as_ollama = m.has_value() ? OllamaNameOf(m->ref) : std::optional<OllamaName>();
    in_ollama_dir = !m.has_value() || (as_ollama && *as_ollama == *ollama_name);
  }
  bool removed = false;
  if (m.has_value()) {
    auto r = ctx.models.Remove(m->ref.name, m->ref.version, {});
    if (!r.has_value()) return respond(ErrorFor(r.error()));
    removed = true;
  }
  if (in_ollama_dir) {
    Status s = ctx.models.RemoveFromOllamaDir(*ollama_name);
    if (s.ok()) {
      removed = true;
    } else if (s.code() != Status::Code::kNotFound) {
      log::Warn("ollama: could not remove {} from Ollama's directory: {}", body->model,
                s.message());
    }
  }
  if (!removed) return respond(ErrorFor(ModelNotFound(body->model)));
  respond(Empty());
}

void Copy(Context& ctx, const Request& req, Responder respond) {
  auto body = ParseCopyRequest(req.body());
  if (!body.has_value()) return respond(ErrorFor(body.error()));
  auto src = FindModel(ctx, body->source);
  if (!src.has_value()) {
    if (src.error().code() == Status::Code::kNotFound)
      return respond(Error(http::status::not_found, "model \"" + body->source + "\" not found"));
    return respond(ErrorFor(src.error()));
  }
  auto dst_name = ParseOllamaName(body->destination);
  Result<ModelRef> dst = dst_name.has_value() ? dst_name->ToModelRef() : dst_name.error();
  if (dst_name.has_value() && dst_name->OnHub()) {
    dst = ModelRef{dst_name->ns + "/" + dst_name->model, dst_name->tag};
  }
  if (!dst.has_value())
    return respond(
        Error(http::status::bad_request, "destination \"" + body->destination + "\" is invalid"));
  auto copied = ctx.models.Copy(src->ref, *dst);
  if (!copied.has_value()) return respond(ErrorFor(copied.error()));
  respond(Empty());
}

void Ps(Context& ctx, Responder respond) {
  json models = json::array();
  for (const auto& l : ctx.models.Loaded()) {
    auto m = ctx.models.Info(l.ref);
    if (!m.has_value()) continue;
    json row = TagJson(*m);
    row.erase("modified_at");
    row["size"] = l.state.bytes;
    row["size_vram"] = 0;
    row["expires_at"] =
        l.state.expires_at
            ? GoTime(
                  std::chrono::system_clock::time_point(std::chrono::seconds(*l.state.expires_at)))
            : std::string("2318-01-01T00:00:00.000000000Z");  // never: Ollama's far future
    if (m->inspection && m->inspection->context_length)
      row["context_length"] = m->inspection->context_length;
    models.push_back(std::move(row));
  }
  respond(Ok({{"models", std::move(models)}}));
}

void Blob(Context& ctx, const Params& p, Responder respond) {
  std::string d = p.Path("digest");
  if (d.rfind("sha256:", 0) == 0 || d.rfind("sha256-", 0) == 0) d.erase(0, 7);
  bool hex = d.size() == 64 && std::all_of(d.begin(), d.end(), [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
             });
  if (!hex) return respond(Error(http::status::bad_request, "invalid digest format"));
  if (!ctx.models.HasBlob(d))
    return respond(Error(http::status::not_found, "blob \"" + p.Path("digest") + "\" not found"));
  respond(Empty());
}

// /api/generate and /api/chat: load or unload, never run.
void Generate(Context& ctx, const Request& req, Responder respond, bool chat) {
  auto body = ParseGenerateRequest(req.body(), chat);
  if (!body.has_value()) return respond(ErrorFor(body.error()));
  if (body->has_input) {
    return respond(Error(http::status::not_implemented,
                         "modeld downloads and loads models but runs no inference: send the "
                         "prompt to an inference server that reads this model's files"));
  }
  auto m = FindModel(ctx, body->model);
  if (!m.has_value()) {
    if (m.error().code() == Status::Code::kNotFound)
      return respond(ErrorFor(ModelNotFound(body->model)));
    return respond(ErrorFor(m.error()));
  }
  std::string reason = "load";
  if (body->keep_alive && body->keep_alive->count() == 0) {
    ctx.models.Unload(m->ref);
    reason = "unload";
  } else {
    service::LoadOptions options;
    options.keep_alive = body->keep_alive;
    auto loaded = ctx.models.Load(m->ref, options);
    if (!loaded.has_value()) return respond(ErrorFor(loaded.error()));
  }
  json out = {{"model", body->model},
              {"created_at", GoTime(std::chrono::system_clock::now())},
              {"done", true},
              {"done_reason", reason}};
  if (chat) {
    out["message"] = {{"role", "assistant"}, {"content", ""}};
  } else {
    out["response"] = "";
  }
  respond(Ok(out));
}

Route Plain(http::verb method, std::string pattern, std::string summary, Handler handler,
            Lane lane) {
  return {
      method, std::move(pattern), std::move(summary), std::move(handler), nullptr, StreamKind::kSse,
      lane};
}

std::vector<Route> Routes(Context& ctx) {
  std::vector<Route> r;
  Route pull = Plain(
      http::verb::post, "/api/pull",
      "Pull a model: NDJSON progress lines, or one answer with \"stream\": false",
      [&ctx](const Request& req, const Params&, Responder respond) {
        PullOnce(ctx, req, std::move(respond));
      },
      Lane::kNetwork);
  pull.stream = [&ctx](const Request& req, const Params&, StreamReply& reply) {
    PullStream(ctx, req, reply);
  };
  pull.stream_kind = StreamKind::kNdjson;
  r.push_back(std::move(pull));
  r.push_back(Plain(
      http::verb::get, "/api/tags", "The local models",
      [&ctx](const Request&, const Params&, Responder respond) { Tags(ctx, std::move(respond)); },
      Lane::kStore));
  r.push_back(Plain(
      http::verb::post, "/api/show", "A model's details, parameters and template",
      [&ctx](const Request& req, const Params&, Responder respond) {
        Show(ctx, req, std::move(respond));
      },
      Lane::kStore));
  r.push_back(Plain(
      http::verb::delete_, "/api/delete", "Delete a model",
      [&ctx](const Request& req, const Params&, Responder respond) {
        Delete(ctx, req, std::move(respond));
      },
      Lane::kStore));
  r.push_back(Plain(
      http::verb::post, "/api/copy", "Copy a model under another name",
      [&ctx](const Request& req, const Params&, Responder respond) {
        Copy(ctx, req, std::move(respond));
      },
      Lane::kStore));
  r.push_back(Plain(
      http::verb::get, "/api/ps", "The models loaded in memory",
      [&ctx](const Request&, const Params&, Responder respond) { Ps(ctx, std::move(respond)); },
      Lane::kStore));
  r.push_back(Plain(
      http::verb::get, "/api/version", "The Ollama API version answered, and modeld's",
      [&ctx](const Request&, const Params&, Responder respond) {
        respond(Ok({{"version", kOllamaApiVersion}, {"modeld", ctx.version}}));
      },
      Lane::kInline));
  r.push_back(Plain(
      http::verb::get, "/api/blobs/:digest", "Whether a blob is in the store (200) or not (404)",
      [&ctx](const Request&, const Params& p, Responder respond) {
        Blob(ctx, p, std::move(respond));
      },
      Lane::kStore));
  for (bool chat : {false, true}) {
    r.push_back(Plain(
        http::verb::post, chat ? "/api/chat" : "/api/generate",
        "Load (a request without messages/prompt) or unload (keep_alive 0) a model; modeld does "
        "not generate",
        [&ctx, chat](const Request& req, const Params&, Responder respond) {
          Generate(ctx, req, std::move(respond), chat);
        },
        Lane::kNetwork));
  }
  return r;
}

}  // namespace

Dialect OllamaDialect(Context& ctx) {
  Dialect d;
  d.name = "ollama";
  d.routes = Routes(ctx);
  d.error_body = Error;
  d.compat_port = 11434;
  return d;
}

}  // namespace modeld::api::ollama
