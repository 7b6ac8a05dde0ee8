// The generic API's POST /models/{name}/load body: api::generic::ParseLoadRequest (and
// service::ParseKeepAlive, which reads its keep_alive), through BodyReader.
//
// Invariants: a refused body is InvalidArgument, never an exception; an accepted one has a
// valid model name and version, and a keep_alive that is unset, zero, negative (-1 ms:
// never) or positive; written back as a body (keep_alive in milliseconds), it parses to
// the same request.
#include <nlohmann/json.hpp>

#include "api/generic/wire.h"
#include "core/names.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using api::generic::ParseLoadRequest;
  std::string_view body = fuzz::AsText(data, size);
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
