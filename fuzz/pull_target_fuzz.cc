// What a user names as a model (the CLI's MODEL and --name, a dialect's model field):
// service::ParsePullTarget, sources::ParseHubReference and service::ModelNameFromUrl.
//
// Input: TARGET, or NAME '\n' TARGET.
//
// Invariants: a refused target is InvalidArgument; a NAME given is the name installed; an
// hf:// reference pulls its repository from the Hub; a URL is fetched as given and
// installed under a valid name (one made from the URL when no name is given, so that never
// fails); ollama://NAME[:TAG] is the registry's model, stored as core/ollama.h names it;
// anything else is NAME[:VERSION], validated, and is what is looked up. A Hub reference has
// a valid org/name and prints (hf://REPO/resolve/REV/FILE) and parses back to itself.
#include <string>

#include "core/names.h"
#include "core/ollama.h"
#include "fuzz_check.h"
#include "service/model_service.h"
#include "service/types.h"
#include "sources/huggingface.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view in = fuzz::AsText(data, size);
  std::string name, text(in);
  if (size_t nl = in.find('\n'); nl != std::string_view::npos) {
    name = std::string(in.substr(0, nl));
    text = std::string(in.substr(nl + 1));
  }

  auto hub = sources::ParseHubReference(text);
  if (hub) {
    FUZZ_CHECK(ValidateModelName(hub->repo_id).ok());
    FUZZ_CHECK(std::count(hub->repo_id.begin(), hub->repo_id.end(), '/') == 1);
    if (!hub->revision.empty() && hub->revision.find('/') == std::string::npos) {
      std::string printed = "hf://" + hub->repo_id;
      if (hub->revision != "main" || !hub->file.empty()) printed += "/resolve/" + hub->revision;
      if (!hub->file.empty()) printed += "/" + hub->file;
      auto again = sources::ParseHubReference(printed);
      FUZZ_CHECK(again && again->repo_id == hub->repo_id && again->revision == hub->revision);
      // Trailing empty segments are dropped ("a/" is "a").
      std::string file = hub->file;
      while (!file.empty() && file.back() == '/') file.pop_back();
      FUZZ_CHECK(again->file == file);
    }
  }

  bool is_url = service::IsHttpUrl(text);
  if (is_url) {
    std::string made = service::ModelNameFromUrl(text);
    FUZZ_CHECK(ValidateModelName(made).ok() && made.size() <= 100);
  }

  service::PullRequest req;
  Status s = service::ParsePullTarget(text, name, &req);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Status::Code::kInvalidArgument);
    FUZZ_CHECK(!(is_url && name.empty()));
    return 0;
  }
  // What is looked up (a Hub repository, a catalog model) when it is not the name the
  // model is installed under (--name, or a Hub selection's version).
  const ModelRef& fetched = req.lookup.name.empty() ? req.ref : req.lookup;
  if (!name.empty()) {
    auto named = ParseModelRef(name);
    FUZZ_CHECK(named.has_value() && *named == req.ref);
  }
  if (text.rfind("hf://", 0) == 0) {
    FUZZ_CHECK(hub && req.source == "huggingface" && fetched.name == hub->repo_id);
    FUZZ_CHECK(req.url.empty());
  } else if (!req.url.empty()) {
    FUZZ_CHECK(is_url && req.url == text);
    FUZZ_CHECK(ValidateModelName(req.ref.name).ok() && ValidateVersion(req.ref.version).ok());
  } else if (req.source == "huggingface") {
    FUZZ_CHECK(is_url && hub && hub->file.empty() && fetched.name == hub->repo_id);
  } else if (text.rfind("ollama://", 0) == 0) {
    // An Ollama registry's model, looked up as core/ollama.h stores its name.
    FUZZ_CHECK(req.source == "ollama");
    auto o = ParseOllamaName(std::string_view(text).substr(9));
    FUZZ_CHECK(o.has_value() && !o->OnHub());
    auto ref = o->ToModelRef();
    FUZZ_CHECK(ref.has_value() && *ref == fetched);
  } else {
    auto ref = ParseModelRef(text);
    FUZZ_CHECK(ref.has_value() && *ref == fetched);
  }
  return 0;
}
