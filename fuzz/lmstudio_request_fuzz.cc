// LM Studio's request bodies: api::lmstudio::ParseDownloadRequest (POST
// /api/v1/models/download), ParseLoadRequest (POST /api/v1/models/load) and
// ParseUnloadRequest (POST /api/v1/models/unload), all three on every input, then RefForKey
// on the model and instance id they accept, and ErrorFor on what they refuse.
//
// Invariants: a refused body is InvalidArgument, never an exception, and its error reply is
// a 400 whose JSON body is {"error": {"message", "type", "code", ...}}; an accepted body has
// a non-empty model (or instance id); load's counts are positive, and every field read back
// from the body is what it holds; a key RefForKey accepts is a valid reference whose key
// (KeyFor) names it again.
#include <nlohmann/json.hpp>

#include "api/lmstudio/wire.h"
#include "core/names.h"
#include "fuzz_check.h"

namespace {

using namespace modeld;
using nlohmann::json;

void CheckRefused(const Status& s) {
  FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument);
  api::Response r = api::lmstudio::ErrorFor(s);
  FUZZ_CHECK(r.result() == api::http::status::bad_request);
  json j = json::parse(r.body(), nullptr, false);
  FUZZ_CHECK(j.is_object() && j["error"].is_object());
  FUZZ_CHECK(j["error"]["message"].is_string() && j["error"]["type"].is_string() &&
             j["error"]["code"].is_string());
}

void CheckKey(const std::string& key) {
  auto ref = api::lmstudio::RefForKey(key);
  if (!ref.has_value()) {
    FUZZ_CHECK(ref.error().code() == Status::Code::kNotFound);
    return;
  }
  FUZZ_CHECK(ValidateModelName(ref->name).ok() && ValidateVersion(ref->version).ok());
  auto again = api::lmstudio::RefForKey(api::lmstudio::KeyFor(*ref));
  FUZZ_CHECK(again.has_value() && *again == *ref);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body = fuzz::AsText(data, size);
  // The body as JSON, parsed only once a parser accepted it (so within the nesting bound).
  json parsed;
  auto accepted = [&]() -> json& {
    if (parsed.is_null()) parsed = json::parse(body, nullptr, false);
    FUZZ_CHECK(parsed.is_object());
    return parsed;
  };

  auto download = api::lmstudio::ParseDownloadRequest(body);
  if (!download.has_value()) {
    CheckRefused(download.error());
  } else {
    FUZZ_CHECK(!download->model.empty());
    FUZZ_CHECK(accepted()["model"] == download->model);
    CheckKey(download->model);
  }

  auto load = api::lmstudio::ParseLoadRequest(body);
  if (!load.has_value()) {
    CheckRefused(load.error());
  } else {
    FUZZ_CHECK(!load->model.empty() && accepted()["model"] == load->model);
    for (const auto& n : {load->context_length, load->eval_batch_size, load->num_experts})
      FUZZ_CHECK(!n || *n >= 1);
    if (load->context_length) FUZZ_CHECK(parsed["context_length"] == *load->context_length);
    if (load->flash_attention) FUZZ_CHECK(parsed["flash_attention"] == *load->flash_attention);
    FUZZ_CHECK(load->echo_load_config == (parsed.value("echo_load_config", json()) == true));
    CheckKey(load->model);
  }

  auto unload = api::lmstudio::ParseUnloadRequest(body);
  if (!unload.has_value()) {
    CheckRefused(unload.error());
  } else {
    FUZZ_CHECK(!unload->empty() && accepted()["instance_id"] == *unload);
    CheckKey(*unload);
  }
  return 0;
}
