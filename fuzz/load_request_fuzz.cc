// The generic API's small bodies, through BodyReader: POST /models/{name}/load's
// (api::generic::ParseLoadRequest, and service::ParseKeepAlive, which reads its
// keep_alive), POST /gc's (ParseGcRequest) and PATCH /settings' and PATCH
// /model-download/{id}'s (ParseLimitsRequest), each given the same bytes.
//
// Invariants: a refused body is InvalidArgument, never an exception; an accepted one has a
// valid model name and version, and a keep_alive that is unset, zero, negative (-1 ms:
// never) or positive; written back as a body (keep_alive in milliseconds), it parses to
// the same request. A gc body: refused as InvalidArgument, or a partial age of 0 to 100
// years that, written back in hours, parses to the same request. A limits body: refused
// as InvalidArgument, or a rate of 0 or kMinRate to kMaxRate and a per-host cap of 1 to 256 (a
// job's never has one), at least one of them, that parse back the same.
#include <nlohmann/json.hpp>

#include "api/generic/wire.h"
#include "core/names.h"
#include "fuzz_check.h"

namespace {

void CheckGc(std::string_view body) {
  using namespace modeld;
  auto gc = api::generic::ParseGcRequest(body);
  if (!gc.has_value()) {
    FUZZ_CHECK(gc.error().code() == Status::Code::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(gc->partial_age.count() >= 0 && gc->partial_age <= std::chrono::hours(24 * 365 * 100));
  nlohmann::json again = {{"partials_older_than_hours", gc->partial_age.count() / 3600.0},
                          {"dry_run", gc->options.dry_run},
                          {"hf_cache", gc->options.hf_cache}};
  auto back = api::generic::ParseGcRequest(again.dump());
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->options.dry_run == gc->options.dry_run &&
             back->options.hf_cache == gc->options.hf_cache);
  FUZZ_CHECK(std::chrono::abs(back->partial_age - gc->partial_age) <= std::chrono::seconds(1));
}

void CheckLimits(std::string_view body, bool settings) {
  using namespace modeld;
  auto lim = api::generic::ParseLimitsRequest(body, settings);
  if (!lim.has_value()) {
    FUZZ_CHECK(lim.error().code() == Status::Code::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(lim->max_rate || lim->max_connections_per_host);
  if (lim->max_rate) {
    FUZZ_CHECK(*lim->max_rate <= uint64_t(api::generic::kMaxRate));
    FUZZ_CHECK(*lim->max_rate == 0 || *lim->max_rate >= uint64_t(api::generic::kMinRate));
  }
  if (lim->max_connections_per_host) {
    FUZZ_CHECK(settings && *lim->max_connections_per_host >= 1 &&
               *lim->max_connections_per_host <= 256);
  }
  nlohmann::json again = nlohmann::json::object();
  if (lim->max_rate) again["max_rate"] = *lim->max_rate;
  if (lim->max_connections_per_host)
    again["max_connections_per_host"] = *lim->max_connections_per_host;
  auto back = api::generic::ParseLimitsRequest(again.dump(), settings);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->max_rate == lim->max_rate &&
             back->max_connections_per_host == lim->max_connections_per_host);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using api::generic::ParseLoadRequest;
  std::string_view body = fuzz::AsText(data, size);
  CheckGc(body);
  CheckLimits(body, true);
  CheckLimits(body, false);
  auto req = ParseLoadRequest("m", body, "");
  if (!req.has_value()) {
    FUZZ_CHECK(req.error().code() == Status::Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(ValidateModelName(req->ref.name).ok() && ValidateVersion(req->ref.version).ok());
  const auto& keep = req->options.keep_alive;
  if (keep && keep->count() < 0) FUZZ_CHECK(keep->count() == -1);
  nlohmann::json again = {{"version", req->ref.version}, {"mlock", req->options.mlock}};
  if (keep) again["keep_alive"] = std::to_string(keep->count()) + "ms";
  auto back = ParseLoadRequest("m", again.dump(), "");
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(back->ref == req->ref && back->options.mlock == req->options.mlock);
  FUZZ_CHECK(back->options.keep_alive == keep);
  return 0;
}
