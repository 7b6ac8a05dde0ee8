#include <algorithm>
#include <cctype>

#include "core/checksum.h"
#include "core/ollama.h"
#include "core/text.h"
#include "net/http.h"
#include "service/model_service.h"
#include "service/types.h"
#include "sources/huggingface.h"

namespace modeld::service {

namespace {

bool HasHubSelection(const PullRequest& req) {
  return !req.include.empty() || !req.exclude.empty() || !req.quantization.empty() ||
         !req.revision.empty();
}

std::string Hash8(const std::string& text) {
  return HashHex(HashAlgorithm::kSha256, text).substr(0, 8);
}

// A file's path as a version: '/' written "--" (as the Hub cache writes repository
// names); one that cannot be written so is "file-" and a hash of it.
std::string FileTag(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '/') {
      out += "--";
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
               c == '+') {
      out += c;
    } else {
      return "file-" + Hash8(path);
    }
  }
  if (out.size() > 100 || !ValidateVersion(out).ok()) return "file-" + Hash8(path);
  return out;
}

// The version a Hub selection installs as (types.h, ParsePullTarget): what was asked,
// joined by '-'. |version| is the one given with the name (a revision or quantization).
std::string SelectionVersion(const std::string& version, const std::string& file,
                             const PullRequest& req) {
  std::vector<std::string> parts;
  if (!version.empty() && version != "latest") parts.push_back(version);
  if (!req.revision.empty() && req.revision != "main" && req.revision != version)
    parts.push_back(req.revision);
  if (!req.quantization.empty() && !EqualsIgnoringCase(req.quantization, version))
    parts.push_back(req.quantization);
  if (!file.empty()) parts.push_back(FileTag(file));
  // The globs, whatever their order, but the one file's own.
  std::vector<std::string> globs;
  for (const auto& g : req.include) {
    if (file.empty() || g != sources::ExactGlob(file)) globs.push_back("+" + g);
  }
  for (const auto& g : req.exclude) globs.push_back("-" + g);
  std::sort(globs.begin(), globs.end());
  globs.erase(std::unique(globs.begin(), globs.end()), globs.end());
  if (!globs.empty()) {
    std::string all;
    for (const auto& g : globs) all += g + '\n';
    parts.push_back("sel-" + Hash8(all));
  }
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "-") + p;
  if (out.empty()) return "latest";
  if (!ValidateVersion(out).ok()) return "sel-" + Hash8(out);  // a long commit and path
  return out;
}

// |lookup| (a Hub repository or a name given with a selection) installed as |name| when
// given, else as the lookup's name with its selection's version.
Status NameSelection(const ModelRef& lookup, const std::string& file, const std::string& name,
                     PullRequest* req) {
  req->lookup = lookup;
  if (!name.empty()) {
    auto ref = ParseModelRef(name);
    if (!ref.has_value()) return ref.error();
    req->ref = *ref;
    return Status::OK();
  }
  req->ref = {lookup.name, SelectionVersion(lookup.version, file, *req)};
  if (req->ref == lookup) req->lookup = {};  // nothing selected: the name itself
  return Status::OK();
}

}  // namespace

bool IsHttpUrl(const std::string& text) { return !net::UrlOrigin(text).empty(); }

Status ParsePullTarget(const std::string& m, const std::string& name, PullRequest* req) {
  bool is_url = IsHttpUrl(m);
  auto hub = sources::ParseHubReference(m);
  bool hub_repo_link =
      hub &&
      (m.rfind("hf://", 0) == 0 ||
       (is_url && hub->file.empty() &&
        net::UrlOrigin(m) == net::UrlOrigin(sources::HubConfig::FromEnvironment().endpoint)));
  if (hub_repo_link) {
    if (hub->revision != "main" && req->revision.empty()) req->revision = hub->revision;
    if (!hub->file.empty()) req->include.push_back(sources::ExactGlob(hub->file));
    if (req->source.empty()) req->source = "huggingface";
    return NameSelection({hub->repo_id, "latest"}, hub->file, name, req);
  }
  if (is_url) {
    req->url = m;
    auto ref = ParseModelRef(name.empty() ? ModelNameFromUrl(m) : name);
    if (!ref.has_value()) return ref.error();
    req->ref = *ref;
    return Status::OK();
  }
  // ollama://NAME[:TAG]: a model of an Ollama registry (Ollama's names, core/ollama.h).
  if (m.rfind("ollama://", 0) == 0) {
    auto o = ParseOllamaName(m.substr(9));
    if (!o.has_value()) return o.error();
    if (o->OnHub()) {
      return Status::InvalidArgument("'" + m + "' names a Hugging Face repository: use hf://" +
                                     o->ns + "/" + o->model);
    }
    auto ref = o->ToModelRef();
    if (!ref.has_value()) return ref.error();
    req->source = "ollama";
    if (name.empty()) {
      req->ref = *ref;
      return Status::OK();
    }
    auto as = ParseModelRef(name);
    if (!as.has_value()) return as.error();
    req->ref = *as;
    req->lookup = *ref;
    return Status::OK();
  }
  // "htp://host/x", "ftp://host/x": a URL of a scheme modeld does not fetch, not a name.
  if (size_t sep = m.find("://"); sep != std::string::npos && sep > 0) {
    std::string scheme = m.substr(0, sep);
    bool is_scheme = std::all_of(scheme.begin(), scheme.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '+' || c == '-' || c == '.';
    });
    if (is_scheme && scheme != "hf" && scheme != "ollama") {
      return Status::InvalidArgument("unknown URL scheme '" + scheme + "' in '" + m +
                                     "': modeld fetches http:// and https:// URLs (and "
                                     "hf://org/name from the Hugging Face Hub, "
                                     "ollama://NAME[:TAG] from an Ollama registry)");
    }
  }
  auto ref = ParseModelRef(m);
  if (!ref.has_value()) {
    return Status::InvalidArgument(ref.error().message() +
                                   " (a model is a URL, NAME[:VERSION] or org/name[:VERSION])");
  }
  if (name.empty() && !HasHubSelection(*req)) {
    req->ref = *ref;
    return Status::OK();
  }
  return NameSelection(*ref, "", name, req);
}

}  // namespace modeld::service
