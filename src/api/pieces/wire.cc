#include "api/pieces/wire.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <utility>

#include "api/common/body.h"
#include "api/common/error_json.h"
#include "api/common/progress.h"
#include "core/error_reasons.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/redact.h"
#include "core/text.h"
#include "core/time_format.h"

namespace modeld::api::pieces {

namespace {

using nlohmann::json;
using service::JobState;

bool Contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// ModelTypeEnum and ModelUsageEnum values a SeededModel may carry (dialects.md 1.3).
constexpr std::array<std::string_view, 4> kTypes = {"UNKNOWN", "BALANCED", "SPEED", "ACCURACY"};
constexpr std::array<std::string_view, 23> kUsages = {"UNKNOWN",
                                                      "OCR",
                                                      "CODE_CLASSIFICATION",
                                                      "TEXT_VS_CODE",
                                                      "TAGIFY_CODE",
                                                      "TLP_TAG_SEARCH",
                                                      "TLP_NEURAL_CODE_SEARCH",
                                                      "TAGIFY_COLOR_FROM_CODE",
                                                      "CODE_DESCRIPTION",
                                                      "CODE_TITLE",
                                                      "CODE_SEARCH_QUERIES",
                                                      "CODE_EXTRACTIVE_TAGS",
                                                      "CODE_EXTRACTIVE_LINKS",
                                                      "CODE_CONVERSATION",
                                                      "CODE_GENERATION",
                                                      "CODE_SEARCH",
                                                      "CODE_DISCOVERY",
                                                      "CODE_RELATED_PEOPLE",
                                                      "CODE_FRAMEWORK",
                                                      "VIDEO_OCR",
                                                      "TEXT_VS_CODE_SEGMENTATION",
                                                      "TEXT_EMBEDDING",
                                                      "TECHNICAL_ERROR"};

template <size_t N>
bool OneOf(const std::array<std::string_view, N>& values, const std::string& v) {
  return std::find(values.begin(), values.end(), v) != values.end();
}

// The fields a client may set on a custom model (the rest are modeld's to say).
constexpr std::array<std::string_view, 9> kClientFields = {
    "name",     "description",  "type", "usage",       "foundation",
    "provider", "capabilities", "cpu",  "quantization"};

}  // namespace

std::string IsoTimestamp(int64_t unix_seconds) { return Iso8601(unix_seconds); }

json GroupedTimestamp(int64_t unix_seconds) {
  return {{"value", IsoTimestamp(unix_seconds)},
          {"readable", FormatUtc(unix_seconds, "%Y-%m-%d %H:%M UTC")}};
}

json ByteDescriptor(uint64_t bytes) {
  // Pieces writes decimal units ("4.37 GB").
  char buf[32];
  const double b = static_cast<double>(bytes);
  if (bytes < 1000) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else if (b < 1e6) {
    std::snprintf(buf, sizeof buf, "%.2f KB", b / 1e3);
  } else if (b < 1e9) {
    std::snprintf(buf, sizeof buf, "%.2f MB", b / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GB", b / 1e9);
  }
  return {{"value", bytes}, {"readable", buf}};
}

std::string_view FoundationFor(std::string_view name, std::string_view architecture) {
  const std::string n = AsciiLower(name) + " " + AsciiLower(architecture);
  // Most specific first: "codellama" before "llama", "tinyllama" before "llama".
  static constexpr std::pair<std::string_view, std::string_view> kFamilies[] = {
      {"tinyllama", "TINYLLAMA_LATEST"},
      {"codellama", "LLAMA_LATEST"},
      {"code-llama", "LLAMA_LATEST"},
      {"llava", "LLAVA_LATEST"},
      {"llama", "LLAMA_LATEST"},
      {"qwen2.5-coder", "QWEN_CODER_LATEST"},
      {"qwen-coder", "QWEN_CODER_LATEST"},
      {"qwq", "QWQ_LATEST"},
      {"qwen", "QWEN_LATEST"},
      {"codestral", "CODESTRAL_LATEST"},
      {"mixtral", "MIXTRAL_LATEST"},
      {"mistral", "MISTRAL_LATEST"},
      {"gemma", "GEMMA_LATEST"},
      {"phi", "PHI_LATEST"},
      {"granite", "GRANITE_LATEST"},
      {"deepseek", "DEEPSEEK_LATEST"},
      {"starcoder", "STARCODER_LATEST"},
      {"orca", "ORCA_LATEST"},
      {"vicuna", "VICUNA_LATEST"},
      {"wizard", "WIZARD_LATEST"},
      {"zephyr", "ZEPHYR_LATEST"},
  };
  for (const auto& [word, foundation] : kFamilies) {
    if (Contains(n, word)) return foundation;
  }
  return "UNKNOWN";
}

std::string_view UsageFor(std::string_view name, std::string_view architecture,
                          const std::vector<std::string>& tags) {
  std::string n = AsciiLower(name) + " " + AsciiLower(architecture);
  for (const auto& t : tags) n += " " + AsciiLower(t);
  if (Contains(n, "embed") || Contains(n, "minilm") || Contains(n, "bert") ||
      Contains(n, "sentence-transformers")) {
    return "TEXT_EMBEDDING";
  }
  if (Contains(n, "whisper") || Contains(n, "speech") || Contains(n, "ocr")) return "OCR";
  if (!architecture.empty() || Contains(n, "gguf") || Contains(n, "llm") ||
      FoundationFor(name, architecture) != "UNKNOWN") {
    return "CODE_CONVERSATION";
  }
  return "UNKNOWN";
}

json ModelJson(const Entry& e) {
  const service::Model* m = e.installed ? &*e.installed : nullptr;
  const service::ModelInspection* in =
      m != nullptr && m->inspection && m->inspection->error.empty() ? &*m->inspection : nullptr;
  const std::string architecture = in != nullptr ? in->architecture : std::string();
  std::vector<std::string> tags;
  std::string description;
  if (m != nullptr) {
    tags = m->tags;
    description = m->description;
  } else if (e.catalog) {
    tags = e.catalog->tags;
    description = e.catalog->description;
  }
  int64_t created = 0;
  if (e.registered) created = e.registered->created_at;
  if (created == 0 && m != nullptr) created = m->created_at ? m->created_at : m->installed_at;
  if (created == 0 && e.job) created = e.job->created_at;
  int64_t updated = created;
  if (m != nullptr) updated = std::max(updated, m->installed_at);
  if (e.registered) updated = std::max(updated, e.registered->updated_at);

  const bool downloading = e.job.has_value() && e.job->last.state != JobState::kPaused;
  json j = {
      {"id", ModelUuid(e.ref)},
      {"version", e.ref.version},
      {"created", GroupedTimestamp(created)},
      {"updated", GroupedTimestamp(updated)},
      {"name", e.ref.name},
      {"unique", e.ref.ToString()},
      {"cloud", false},
      {"type", "BALANCED"},
      {"usage", UsageFor(e.ref.name, architecture, tags)},
      {"foundation", FoundationFor(e.ref.name, architecture)},
      {"provider", "UNKNOWN"},
      {"cpu", true},
      {"downloaded", m != nullptr && m->status == "available"},
      {"downloading", downloading},
      {"loaded", m != nullptr && m->loaded.has_value()},
      {"custom", e.registered.has_value() && e.registered->custom},
  };
  if (!description.empty()) j["description"] = description;
  const std::string source = m != nullptr ? m->source : std::string();
  if (source == "huggingface" || Contains(AsciiLower(e.ref.name), "/"))
    j["provider"] = "HUGGING_FACE";
  uint64_t bytes = 0;
  if (m != nullptr) {
    bytes = m->size;
  } else if (e.job && e.job->last.bytes_total) {
    bytes = *e.job->last.bytes_total;
  } else if (e.catalog_size) {
    bytes = *e.catalog_size;
  }
  if (bytes > 0) {
    j["bytes"] = ByteDescriptor(bytes);
    j["ram"] = ByteDescriptor(bytes);  // the mapped files: what a load holds
  }
  if (in != nullptr) {
    if (!in->quantization.empty()) j["quantization"] = in->quantization;
    if (in->parameter_count > 0) {
      // Billions, as Pieces' "parameters" is (0.5 for 494M).
      j["parameters"] = std::round(static_cast<double>(in->parameter_count) / 1e7) / 100.0;
    }
    if (in->context_length > 0) {
      j["maxTokens"] = {{"total", in->context_length}, {"input", in->context_length}};
    }
  }
  // A custom model shows what its client said of it (never its identity or state).
  if (e.registered && e.registered->custom) {
    for (std::string_view key : kClientFields) {
      auto it = e.registered->fields.find(std::string(key));
      if (it == e.registered->fields.end() || it->is_null()) continue;
      const json& v = *it;
      bool ok = key == "capabilities" ? v.is_object()
                : key == "cpu"        ? v.is_boolean()
                                      : v.is_string();
      if (ok) j[std::string(key)] = v;
    }
  }
  return j;
}

std::string_view ProgressStatus(JobState state) {
  switch (state) {
    case JobState::kQueued:
    case JobState::kResolving:
      return "INITIALIZED";
    case JobState::kDownloading:
    case JobState::kVerifying:
    case JobState::kInstalling:
    case JobState::kPaused:
      return "IN-PROGRESS";
    case JobState::kCompleted:
      return "COMPLETED";
    case JobState::kFailed:
      return "FAILED";
    case JobState::kCancelled:
      return "CANCELED";
  }
  return "UNKNOWN";
}

json ProgressJson(std::string_view status, std::optional<double> percentage) {
  json j = {{"status", status}};
  if (percentage) j["percentage"] = *percentage;
  return j;
}

std::optional<double> Percentage(const service::JobEvent& ev) {
  if (ev.state == JobState::kCompleted) return 100.0;
  if (!ev.bytes_total || *ev.bytes_total == 0) return std::nullopt;
  return Percent(ev.bytes_done, ev.bytes_total, false);
}

std::string NameFromDisplayName(std::string_view display) {
  std::string out;
  bool dash = false;
  for (char c : display) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '.' || c == '_' || c == '-' || c == '/') {
      if (dash && !out.empty()) out += '-';
      dash = false;
      out += c;
    } else {
      dash = true;
    }
  }
  // A name may not start with '.' or '-' (core/names.h), nor end with '/'.
  while (!out.empty() && (out.front() == '.' || out.front() == '-' || out.front() == '/')) {
    out.erase(out.begin());
  }
  while (!out.empty() && out.back() == '/') out.pop_back();
  if (out.size() > 200) out.resize(200);
  return out;
}

Result<SeededModel> ParseSeededModel(std::string_view body) {
  auto reader = BodyReader::Parse(body);
  if (!reader.has_value()) return reader.error();
  BodyReader& r = *reader;
  std::string name, version, type, usage, unique;
  r.Str("name", &name, /*required=*/true);
  r.Str("version", &version, /*required=*/true);
  r.Str("type", &type);
  r.Str("usage", &usage);
  r.Str("unique", &unique);
  if (!r.ok()) return r.error();
  if (!type.empty() && !OneOf(kTypes, type)) {
    return Status::InvalidArgument("Invalid parameter 'type': '" + type +
                                   "' is not a ModelTypeEnum (UNKNOWN, BALANCED, SPEED, ACCURACY)");
  }
  if (!usage.empty() && !OneOf(kUsages, usage)) {
    return Status::InvalidArgument("Invalid parameter 'usage': '" + usage +
                                   "' is not a ModelUsageEnum");
  }
  SeededModel out;
  out.ref.name = NameFromDisplayName(name);
  if (out.ref.name.empty() || !ValidateModelName(out.ref.name).ok()) {
    return Status::InvalidArgument("Invalid parameter 'name': '" + name +
                                   "' gives no valid model name (letters, digits, '.', '_', '-')");
  }
  out.ref.version = NameFromDisplayName(version);
  for (char& c : out.ref.version) {
    if (c == '/') c = '-';
  }
  if (Status s = ValidateVersion(out.ref.version); !s.ok()) {
    return Status::InvalidArgument("Invalid parameter 'version': " + s.message());
  }
  out.target = unique;
  out.fields = r.json();
  return out;
}

http::status HttpStatusFor(const Status& s) {
  // A model modeld knows but has not downloaded (a load before the download) is there: a
  // conflict with its state, not "gone".
  if (const Status::Info* info = s.info();
      info != nullptr && info->reason == reason::kModelNotInstalled) {
    return http::status::conflict;
  }
  switch (s.code()) {
    case Status::Code::kOk:
      return http::status::ok;
    case Status::Code::kInvalidArgument:
      return http::status::bad_request;
    case Status::Code::kNotFound:
      return http::status::gone;  // Pieces OS: 410 "model was not found"
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

Response ErrorBody(http::status status, const std::string& message) {
  json j = {{"status", static_cast<int>(status)}, {"message", RedactText(message)}};
  return JsonResponse(status, DumpJson(j));
}

Response ErrorFor(const Status& s) {
  const http::status status = HttpStatusFor(s);
  json j = {{"status", static_cast<int>(status)}, {"message", RedactText(s.message())}};
  AddErrorCode(j, s);
  return JsonResponse(status, DumpJson(j));
}

}  // namespace modeld::api::pieces
