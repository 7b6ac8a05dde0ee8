// The generic API's POST /model-download body (and ?wait=): api::generic::
// ParseDownloadRequest, through BodyReader (api/common/body.h).
//
// Invariants: a refused body is InvalidArgument saying "Invalid JSON body" or naming the
// field ("Invalid parameter '...'"), never an exception; an accepted one has a valid model
// name and version, an http(s) URL or none, a well-formed checksum, a priority in
// -100..100 and options in their ranges; ?wait=true changes only |wait|; the request
// survives a restart (PullRequestToJson, then PullRequestFromJson, as the jobs table
// stores it); and written back as a body, it parses to the same request.
#include <nlohmann/json.hpp>

#include "api/generic/wire.h"
#include "core/names.h"
#include "fuzz_check.h"
#include "service/job_codec.h"

namespace {

using modeld::service::PullRequest;

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The body a client would send for |d|.
nlohmann::json AsBody(const modeld::api::generic::DownloadRequest& d) {
  const PullRequest& p = d.pull;
  nlohmann::json b = {{"model_name", p.ref.name}, {"version", p.ref.version},
                      {"source", p.source},       {"force_download", p.force},
                      {"wait", d.wait},           {"include", p.include},
                      {"exclude", p.exclude},     {"quantization", p.quantization},
                      {"revision", p.revision},   {"priority", d.priority},
                      {"metadata", p.metadata}};
  if (!p.url.empty()) b["download_url"] = p.url;
  if (!p.lookup.name.empty()) b["from"] = p.lookup.ToString();
  if (p.checksum) b["checksum"] = p.checksum->ToString();
  nlohmann::json o = {{"chunk_size", p.options.buffer_size},
                      {"verify_ssl", p.options.verify_ssl},
                      {"extract_after_download", p.extract},
                      {"cleanup_temp_files", !p.keep_archive}};
  if (p.options.retry_count >= 0) o["retry_count"] = p.options.retry_count;
  if (p.options.retry_for) {
    o["retry_for"] = std::chrono::duration_cast<std::chrono::seconds>(*p.options.retry_for).count();
  }
  const auto defaults = modeld::service::DownloadOptions();
  if (p.options.stall_timeout != defaults.stall_timeout ||
      p.options.progress_timeout != defaults.progress_timeout) {
    o["timeout"] =
        std::chrono::duration_cast<std::chrono::seconds>(p.options.stall_timeout).count();
  }
  b["options"] = o;
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using api::generic::ParseDownloadRequest;
  std::string_view body = fuzz::AsText(data, size);
  auto req = ParseDownloadRequest(body, false);
  if (!req.has_value()) {
    FUZZ_CHECK(req.error().code() == Status::Code::kInvalidArgument);
    const std::string& m = req.error().message();
    FUZZ_CHECK(StartsWith(m, "Invalid JSON body") || StartsWith(m, "Invalid parameter '"));
    FUZZ_CHECK(!ParseDownloadRequest(body, true).has_value());
    return 0;
  }
  const PullRequest& p = req->pull;
  FUZZ_CHECK(ValidateModelName(p.ref.name).ok() && ValidateVersion(p.ref.version).ok());
  FUZZ_CHECK(p.url.empty() || service::IsHttpUrl(p.url));
  if (p.checksum) FUZZ_CHECK(p.checksum->hex.size() == HashHexLength(p.checksum->algorithm));
  FUZZ_CHECK(req->priority >= -100 && req->priority <= 100);
  // -1: no count given, the retry budget is a time (retry_for); else what was asked.
  FUZZ_CHECK(p.options.retry_count >= -1 && p.options.retry_count <= 100);
  FUZZ_CHECK(!p.options.retry_for || *p.options.retry_for <= std::chrono::hours(24 * 7));
  FUZZ_CHECK(p.options.buffer_size >= 16384 && p.options.buffer_size <= (64u << 20));
  FUZZ_CHECK(p.options.stall_timeout.count() > 0 &&
             p.options.stall_timeout <= std::chrono::hours(24 * 7));
  FUZZ_CHECK(p.metadata.is_object());

  // ?wait=true: the same request, answered when it ends.
  auto waited = ParseDownloadRequest(body, true);
  FUZZ_CHECK(waited.has_value() && waited->wait && waited->priority == req->priority);
  FUZZ_CHECK(service::PullRequestToJson(waited->pull, 0) == service::PullRequestToJson(p, 0));

  // The jobs table's record reads back to the same request.
  nlohmann::json record = service::PullRequestToJson(p, req->priority);
  int priority = -1;
  auto restored = service::PullRequestFromJson(nlohmann::json::parse(record.dump()), &priority);
  FUZZ_CHECK(restored.has_value());
  FUZZ_CHECK(priority == req->priority);
  FUZZ_CHECK(service::PullRequestToJson(*restored, priority) == record);

  // Written back as a body: the same request.
  auto again = ParseDownloadRequest(AsBody(*req).dump(), false);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->wait == req->wait && again->priority == req->priority);
  FUZZ_CHECK(service::PullRequestToJson(again->pull, 0) == service::PullRequestToJson(p, 0));
  return 0;
}
