#include <algorithm>
#include <cctype>

#include "net/http.h"
#include "service/model_service.h"
#include "service/types.h"
#include "sources/huggingface.h"

namespace modeld::service {

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
    req->ref = {hub->repo_id, hub->revision == "main" ? "latest" : hub->revision};
    if (hub->revision != "main" && req->revision.empty()) req->revision = hub->revision;
    if (!hub->file.empty()) req->include.push_back(hub->file);
    if (req->source.empty()) req->source = "huggingface";
    return Status::OK();
  }
  if (is_url) {
    req->url = m;
    auto ref = ParseModelRef(name.empty() ? ModelNameFromUrl(m) : name);
    if (!ref.has_value()) return ref.error();
    req->ref = *ref;
    return Status::OK();
  }
  // "htp://host/x", "ftp://host/x": a URL of a scheme modeld does not fetch, not a name.
  if (size_t sep = m.find("://"); sep != std::string::npos && sep > 0) {
    std::string scheme = m.substr(0, sep);
    bool is_scheme = std::all_of(scheme.begin(), scheme.end(), [](unsigned char c) {
      return std::isalnum(c) || c == '+' || c == '-' || c == '.';
    });
    if (is_scheme && scheme != "hf") {
      return Status::InvalidArgument("unknown URL scheme '" + scheme + "' in '" + m +
                                     "': modeld fetches http:// and https:// URLs (and "
                                     "hf://org/name from the Hugging Face Hub)");
    }
  }
  auto ref = ParseModelRef(m);
  if (!ref.has_value()) {
    return Status::InvalidArgument(ref.error().message() +
                                   " (a model is a URL, NAME[:VERSION] or org/name[:VERSION])");
  }
  req->ref = *ref;
  return Status::OK();
}

}  // namespace modeld::service
