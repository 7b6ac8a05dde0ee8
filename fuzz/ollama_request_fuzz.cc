// Ollama's request bodies (api::ollama, issue 15): /api/pull, /api/show and /api/delete,
// /api/copy, /api/generate and /api/chat. The first byte picks the parser; the rest is the
// body.
//
// Invariants: a refused body is InvalidArgument, never an exception, and answers 400 in
// Ollama's shape; an accepted one names a non-empty model (copy: source and destination
// are strings); every model name accepted maps to candidate references that are valid
// model names and versions.
#include "api/ollama/wire.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  if (size == 0) return 0;
  std::string_view body = fuzz::AsText(data + 1, size - 1);
  auto refused = [](const Status& s) {
    FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument);
    FUZZ_CHECK(api::ollama::StatusFor(s) == api::http::status::bad_request);
  };
  auto names = [](const std::string& model) {
    for (const auto& ref : api::ollama::CandidateRefs(model)) {
      FUZZ_CHECK(ValidateModelName(ref.name).ok() && ValidateVersion(ref.version).ok());
    }
  };
  switch (data[0] % 5) {
    case 0: {
      auto p = api::ollama::ParsePullRequest(body);
      if (!p.has_value()) return refused(p.error()), 0;
      FUZZ_CHECK(!p->model.empty());
      names(p->model);
      break;
    }
    case 1: {
      auto m = api::ollama::ParseModelRequest(body);
      if (!m.has_value()) return refused(m.error()), 0;
      FUZZ_CHECK(!m->model.empty());
      names(m->model);
      break;
    }
    case 2: {
      auto c = api::ollama::ParseCopyRequest(body);
      if (!c.has_value()) return refused(c.error()), 0;
      names(c->source);
      names(c->destination);
      break;
    }
    default: {
      auto g = api::ollama::ParseGenerateRequest(body, data[0] % 5 == 4);
      if (!g.has_value()) return refused(g.error()), 0;
      FUZZ_CHECK(!g->model.empty());
      names(g->model);
      break;
    }
  }
  return 0;
}
