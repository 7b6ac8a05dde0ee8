#include "api/lmstudio/wire.h"

#include <algorithm>
#include <cmath>

#include "api/common/body.h"
#include "api/common/error_json.h"
#include "api/common/progress.h"
#include "core/error_reasons.h"
#include "core/json.h"
#include "core/redact.h"
#include "core/text.h"

namespace modeld::api::lmstudio {

namespace {

using nlohmann::json;
using service::JobState;

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// The inspection of |m| when it was read without error.
const service::ModelInspection* InspectionOf(const service::Model& m) {
  return m.inspection && m.inspection->error.empty() ? &*m.inspection : nullptr;
}

json StringOrNull(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }
json CountOrNull(uint64_t n) { return n == 0 ? json(nullptr) : json(n); }

// A required string field that may not be empty.
bool NonEmpty(BodyReader& r, const std::string& key, std::string* out) {
  if (!r.Str(key, out, /*required=*/true)) return false;
  if (out->empty()) return r.Fail(key, "must not be empty");
  return true;
}

// LM Studio's error "type" and "code" for a Status.
std::pair<std::string_view, std::string_view> TypeAndCode(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
    case Status::Code::kInvalidArgument:
      return {"invalid_request_error", "invalid_request"};
    case Status::Code::kNotFound:
      return {"invalid_request_error", "model_not_found"};
    case Status::Code::kAlreadyExists:
      return {"invalid_request_error", "already_exists"};
    case Status::Code::kFailedPrecondition:
      return {"invalid_request_error", "model_not_ready"};
    case Status::Code::kPermissionDenied:
      return {"permission_error", "permission_denied"};
    case Status::Code::kNoSpace:
      return {"server_error", "insufficient_storage"};
    case Status::Code::kUnavailable:
      return {"server_error", "service_unavailable"};
    case Status::Code::kIoError:
    case Status::Code::kCorrupt:
    case Status::Code::kCancelled:
    case Status::Code::kInternal:
      return {"server_error", "internal_error"};
  }
  return {"server_error", "internal_error"};
}

}  // namespace

Result<DownloadRequest> ParseDownloadRequest(std::string_view body) {
  auto reader = BodyReader::Parse(body);
  if (!reader.has_value()) return reader.error();
  DownloadRequest out;
  if (!NonEmpty(*reader, "model", &out.model)) return reader->error();
  if (!reader->Str("quantization", &out.quantization)) return reader->error();
  return out;
}

Result<LoadRequest> ParseLoadRequest(std::string_view body) {
  auto reader = BodyReader::Parse(body);
  if (!reader.has_value()) return reader.error();
  BodyReader& r = *reader;
  LoadRequest out;
  NonEmpty(r, "model", &out.model);
  auto count = [&r](const std::string& key, int64_t max, std::optional<int64_t>* v) {
    if (!r.Has(key)) return;
    int64_t n = 0;
    if (r.Int(key, 1, max, &n)) *v = n;
  };
  auto flag = [&r](const std::string& key, std::optional<bool>* v) {
    if (!r.Has(key)) return;
    bool b = false;
    if (r.Bool(key, &b)) *v = b;
  };
  count("context_length", int64_t{1} << 31, &out.context_length);
  count("eval_batch_size", int64_t{1} << 31, &out.eval_batch_size);
  count("num_experts", 1024, &out.num_experts);
  flag("flash_attention", &out.flash_attention);
  flag("offload_kv_cache_to_gpu", &out.offload_kv_cache_to_gpu);
  r.Bool("echo_load_config", &out.echo_load_config);
  if (!r.ok()) return r.error();
  return out;
}

Result<std::string> ParseUnloadRequest(std::string_view body) {
  auto reader = BodyReader::Parse(body);
  if (!reader.has_value()) return reader.error();
  std::string id;
  if (!NonEmpty(*reader, "instance_id", &id)) return reader->error();
  return id;
}

std::string KeyFor(const ModelRef& ref) {
  return ref.version == "latest" ? ref.name : ref.ToString();
}

Result<ModelRef> RefForKey(std::string_view key) {
  auto ref = ParseModelRef(key);
  if (!ref.has_value()) {
    return Status::NotFound("model '" + std::string(key) +
                            "' was not found: " + ref.error().message());
  }
  return ref;
}

std::string_view DownloadStatus(JobState state) {
  switch (state) {
    case JobState::kQueued:
    case JobState::kResolving:
    case JobState::kDownloading:
    case JobState::kVerifying:
    case JobState::kInstalling:
      return "downloading";
    case JobState::kPaused:
      return "paused";
    case JobState::kCompleted:
      return "completed";
    case JobState::kFailed:
    case JobState::kCancelled:
      return "failed";
  }
  return "failed";
}

json JobJson(const service::Job& job, int64_t now) {
  const service::JobEvent& ev = job.last;
  const std::string_view status = DownloadStatus(ev.state);
  uint64_t total = ev.bytes_total.value_or(job.plan.total_bytes.value_or(0));
  uint64_t done = ev.bytes_done;
  if (ev.state == JobState::kCompleted) {
    if (total == 0 && job.result) total = job.result->size;
    done = std::max(done, total);
  }
  json j = {{"job_id", job.id},
            {"status", status},
            {"total_size_bytes", total},
            {"downloaded_bytes", done},
            {"started_at", Iso8601(job.started_at != 0 ? job.started_at : job.created_at)}};
  if (status == "downloading") {
    j["bytes_per_second"] = std::round(ev.bytes_per_second * 100) / 100;
    if (ev.eta_seconds) j["estimated_completion"] = Iso8601(now + EtaSeconds(ev.eta_seconds));
  }
  if (ev.state == JobState::kCompleted) {
    j["completed_at"] = Iso8601(job.finished_at != 0 ? job.finished_at : now);
  }
  if (!job.request.quantization.empty()) j["quantization"] = job.request.quantization;
  if (status == "failed") {
    const Status& why = !job.error.ok() ? job.error : ev.status;
    j["error"] = why.ok() ? std::string(JobStateName(ev.state)) : RedactText(why.message());
  }
  return j;
}

json AlreadyDownloadedJson(std::string_view quantization) {
  json j = {{"status", "already_downloaded"}};
  if (!quantization.empty()) j["quantization"] = quantization;
  return j;
}

std::string_view ModelType(const service::Model& m) {
  const service::ModelInspection* in = InspectionOf(m);
  const std::string arch = in != nullptr ? AsciiLower(in->architecture) : std::string();
  if (Contains(arch, "bert") || arch == "t5encoder" || Contains(AsciiLower(m.ref.name), "embed"))
    return "embedding";
  for (const auto& t : m.tags) {
    if (Contains(AsciiLower(t), "embedding")) return "embedding";
  }
  return "llm";
}

std::string Publisher(const service::Model& m) {
  if (size_t slash = m.ref.name.find('/'); slash != std::string::npos)
    return m.ref.name.substr(0, slash);
  return m.source.empty() ? "local" : m.source;
}

json ModelEntryJson(const service::Model& m) {
  const service::ModelInspection* in = InspectionOf(m);
  const std::string_view type = ModelType(m);
  const std::string key = KeyFor(m.ref);
  json quant = {{"name", nullptr}, {"bits_per_weight", nullptr}};
  json j = {{"type", type}, {"publisher", Publisher(m)}, {"key", key}, {"display_name", key}};
  json max_context = nullptr;
  json format = nullptr;
  json params = nullptr;
  if (in != nullptr) {
    if (!in->name.empty()) j["display_name"] = in->name;
    if (type == "llm") j["architecture"] = StringOrNull(in->architecture);
    quant["name"] = StringOrNull(in->quantization);
    if (in->bits_per_weight > 0)
      quant["bits_per_weight"] = std::round(in->bits_per_weight * 100) / 100;
    max_context = CountOrNull(in->context_length);
    if (in->format == "gguf") format = "gguf";
    params = StringOrNull(in->parameters);
  } else if (type == "llm") {
    j["architecture"] = nullptr;
  }
  j["quantization"] = quant;
  j["size_bytes"] = m.size;
  j["params_string"] = params;
  json instances = json::array();
  if (m.loaded) instances.push_back({{"id", key}, {"config", {{"context_length", max_context}}}});
  j["loaded_instances"] = instances;
  j["max_context_length"] = max_context;
  j["format"] = format;
  return j;
}

json LegacyModelJson(const service::Model& m) {
  const service::ModelInspection* in = InspectionOf(m);
  return {{"id", KeyFor(m.ref)},
          {"object", "model"},
          {"type", ModelType(m)},
          {"publisher", Publisher(m)},
          {"arch", in != nullptr ? StringOrNull(in->architecture) : json(nullptr)},
          {"compatibility_type", in != nullptr ? StringOrNull(in->format) : json(nullptr)},
          {"quantization", in != nullptr ? StringOrNull(in->quantization) : json(nullptr)},
          {"state", m.loaded ? "loaded" : "not-loaded"},
          {"max_context_length", in != nullptr ? CountOrNull(in->context_length) : json(nullptr)}};
}

http::status HttpStatusFor(const Status& s) {
  if (const Status::Info* info = s.info(); info != nullptr) {
    // A model being downloaded, or broken, is there but not ready: a conflict.
    if (info->reason == reason::kModelDownloading || info->reason == reason::kModelBroken)
      return http::status::conflict;
  }
  switch (s.code()) {
    case Status::Code::kOk:
      return http::status::ok;
    case Status::Code::kInvalidArgument:
      return http::status::bad_request;
    case Status::Code::kNotFound:
      return http::status::not_found;
    case Status::Code::kAlreadyExists:
    case Status::Code::kFailedPrecondition:
      return http::status::conflict;
    case Status::Code::kNoSpace:
      return http::status::insufficient_storage;
    case Status::Code::kPermissionDenied:
      return http::status::forbidden;
    case Status::Code::kUnavailable:
      return http::status::service_unavailable;
    case Status::Code::kIoError:
    case Status::Code::kCorrupt:
    case Status::Code::kCancelled:
    case Status::Code::kInternal:
      return http::status::internal_server_error;
  }
  return http::status::internal_server_error;
}

Response ErrorFor(const Status& s, std::string_view code) {
  auto [type, default_code] = TypeAndCode(s);
  json e = {{"message", RedactText(s.message())},
            {"type", type},
            {"code", code.empty() ? default_code : code}};
  AddErrorCode(e, s);
  return JsonResponse(HttpStatusFor(s), DumpJson(json{{"error", e}}));
}

Response ErrorBody(http::status status, const std::string& message) {
  const unsigned n = static_cast<unsigned>(status);
  std::string_view type = n >= 500 ? "server_error" : "invalid_request_error";
  std::string_view code = n >= 500 ? "internal_error" : "invalid_request";
  switch (status) {
    case http::status::unauthorized:
      type = "authentication_error";
      code = "unauthorized";
      break;
    case http::status::forbidden:
      type = "permission_error";
      code = "forbidden";
      break;
    case http::status::not_found:
      code = "not_found";
      break;
    case http::status::method_not_allowed:
      code = "method_not_allowed";
      break;
    case http::status::payload_too_large:
      code = "payload_too_large";
      break;
    case http::status::unsupported_media_type:
      code = "unsupported_media_type";
      break;
    case http::status::service_unavailable:
      code = "service_unavailable";
      break;
    default:
      break;
  }
  json e = {{"message", RedactText(message)}, {"type", type}, {"code", code}};
  return JsonResponse(status, DumpJson(json{{"error", e}}));
}

}  // namespace modeld::api::lmstudio
