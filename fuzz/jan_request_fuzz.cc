// Jan's and cortex's request bodies (api::jan, issue 14): POST /v1/models/pull
// (ParsePullBody, then PullRequestFor), DELETE /v1/models/pull (ParseCancelBody) and the
// start/stop bodies (ParseStartBody, with and without an id in the path). The first byte
// picks the parser; the rest is the body.
//
// Invariants: a refused body is InvalidArgument, never an exception; an accepted pull has a
// non-empty model, and the request made of it (when it is one) has a valid model name and
// version, installed as "id" when one was given, from the Hub for the "author:repo:file"
// form, and its task (the reply) always carries "items"; an accepted cancel has a
// non-empty taskId; a start names the path's id when there is one, else a non-empty
// "model".
#include <nlohmann/json.hpp>

#include "api/jan/wire.h"
#include "core/names.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using nlohmann::json;
  if (size == 0) return 0;
  const uint8_t which = data[0] % 4;
  std::string_view body = fuzz::AsText(data + 1, size - 1);
  switch (which) {
    case 0: {
      auto pull = api::jan::ParsePullBody(body);
      if (!pull.has_value()) {
        FUZZ_CHECK(pull.error().code() == Status::Code::kInvalidArgument);
        return 0;
      }
      FUZZ_CHECK(!pull->model.empty());
      for (bool jan : {false, true}) {
        auto req = api::jan::PullRequestFor(*pull, jan);
        if (!req.has_value()) {
          FUZZ_CHECK(req.error().code() == Status::Code::kInvalidArgument);
          continue;
        }
        FUZZ_CHECK(ValidateModelName(req->ref.name).ok());
        FUZZ_CHECK(ValidateVersion(req->ref.version).ok());
        if (jan) FUZZ_CHECK(req->source == "jan");
        if (!pull->id.empty()) {
          auto asked = ParseModelRef(pull->id);
          FUZZ_CHECK(asked.has_value() && *asked == req->ref);
        }
        if (!jan && api::jan::CortexHubTarget(pull->model))
          FUZZ_CHECK(req->source == "huggingface");
        const std::string id = api::jan::JanId(req->ref);
        auto back = api::jan::ParseJanId(id);
        FUZZ_CHECK(back.has_value() && *back == req->ref);
        json task = api::jan::TaskJson(id, api::jan::TaskItems({}, {}, false, "/d"));
        FUZZ_CHECK(task["items"].is_array() && task["id"] == id);
        FUZZ_CHECK(json::parse(task.dump()) == task);
      }
      return 0;
    }
    case 1: {
      auto id = api::jan::ParseCancelBody(body);
      if (!id.has_value()) {
        FUZZ_CHECK(id.error().code() == Status::Code::kInvalidArgument);
        return 0;
      }
      FUZZ_CHECK(!id->empty());
      return 0;
    }
    default: {
      const std::string path_id = which == 2 ? "" : "from-path";
      auto id = api::jan::ParseStartBody(body, path_id);
      if (!id.has_value()) {
        FUZZ_CHECK(id.error().code() == Status::Code::kInvalidArgument);
        return 0;
      }
      FUZZ_CHECK(path_id.empty() ? !id->empty() : *id == path_id);
      return 0;
    }
  }
}
