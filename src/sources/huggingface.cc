#include "sources/huggingface.h"

#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error_reasons.h"
#include "core/json.h"
#include "core/log.h"
#include "core/names.h"
#include "core/text.h"
#include "core/time_format.h"
#include "net/fetch.h"
#include "net/http.h"

namespace modeld::sources {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

Status ValidateRevision(const std::string& rev) {
  if (rev.empty() || rev.size() > 256) return Status::InvalidArgument("bad revision '" + rev + "'");
  for (char c : rev) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) {
      return Status::InvalidArgument("bad revision '" + rev + "'");
    }
  }
  return Status::OK();
}

// One API GET with the token, retrying 429, 5xx and network failures (net::FetchRetrying).
Result<net::FetchResponse> ApiGet(const std::string& url, const HubConfig& config) {
  std::vector<std::string> headers = {"Accept: application/json"};
  if (!config.token.empty()) headers.push_back("Authorization: Bearer " + config.token);
  net::RetryBudget budget;
  budget.timeout = config.timeout;
  budget.retry_for = config.retry_for;
  budget.max_retries = config.max_retries;
  budget.max_backoff = config.max_backoff;
  budget.upstream = "the Hub";
  return net::FetchRetrying(url, headers, budget);
}

// Turns a Hub error answer into a Status a user can act on.
Status HubError(const net::FetchResponse& r, const std::string& repo_id,
                const std::string& revision, const HubConfig& config) {
  auto header = [&](const char* n) {
    auto it = r.headers.find(n);
    return it == r.headers.end() ? std::string() : it->second;
  };
  std::string code = header("x-error-code");
  std::string page = config.endpoint + "/" + repo_id;
  if (r.status == 401 || r.status == 403) {
    const bool gated = code == "GatedRepo";
    Status::Info info{reason::kHubAccess,
                      {{"repo", repo_id},
                       {"page", page},
                       {"gated", gated ? "1" : "0"},
                       {"token", config.token.empty() ? "0" : "1"}}};
    if (gated) {
      return Status::PermissionDenied(
                 "repository '" + repo_id + "' is gated: accept its licence at " + page +
                 (config.token.empty() ? " and set HF_TOKEN" : " with the account of HF_TOKEN"))
          .WithInfo(std::move(info));
    }
    return Status::PermissionDenied(
               "repository '" + repo_id + "' is private or gated" +
               (config.token.empty() ? ": set HF_TOKEN" : ": HF_TOKEN has no access to it"))
        .WithInfo(std::move(info));
  }
  if (r.status == 404) {
    if (code == "RevisionNotFound") {
      return Status::NotFound("revision '" + revision + "' not found in " + repo_id);
    }
    if (code == "EntryNotFound")
      return Status::NotFound("file not found in " + repo_id + "@" + revision);
    return Status::NotFound("repository '" + repo_id + "' not found on " + config.endpoint +
                            (config.token.empty() ? " (if it is private, set HF_TOKEN)" : ""));
  }
  return net::HttpStatusToStatus(r.status, "the Hub, for " + repo_id);
}

// |key| of the object |j| as a string: "" when absent or null, nullopt when of another
// type. Never throws (json::value() does, on a mistyped field).
std::optional<std::string> StringField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// |key| as a byte count: 0 when absent or null, nullopt when not a non-negative integer.
std::optional<uint64_t> SizeField(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return uint64_t{0};
  if (!it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

bool IsGguf(const std::string& path) {
  return path.size() > 5 && AsciiLower(path.substr(path.size() - 5)) == ".gguf";
}

// |token| occurs in |text| with no letter, digit or '_' right before or after it:
// "q4_k" is not in "model-q4_k_m.gguf", "q4_k_m" is.
bool HasToken(const std::string& text, const std::string& token) {
  auto boundary = [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '_'); };
  for (size_t pos = text.find(token); pos != std::string::npos; pos = text.find(token, pos + 1)) {
    bool before = pos == 0 || boundary(text[pos - 1]);
    size_t end = pos + token.size();
    bool after = end == text.size() || boundary(text[end]);
    if (before && after) return true;
  }
  return false;
}

}  // namespace

HubConfig HubConfig::FromEnvironment() {
  HubConfig c;
  if (!Env("HF_ENDPOINT").empty()) c.endpoint = Env("HF_ENDPOINT");
  while (!c.endpoint.empty() && c.endpoint.back() == '/') c.endpoint.pop_back();
  c.token = Env("HF_TOKEN");
  if (c.token.empty()) c.token = Env("HUGGING_FACE_HUB_TOKEN");
  std::string off = AsciiLower(Env("HF_HUB_OFFLINE"));
  c.offline = off == "1" || off == "true" || off == "yes";
  return c;
}

bool GlobMatch(const std::string& pattern, const std::string& path) {
  return ::fnmatch(pattern.c_str(), path.c_str(), 0) == 0;
}

std::string ExactGlob(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '*' || c == '?' || c == '[' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::optional<HubReference> ParseHubReference(const std::string& text) {
  HubReference ref;
  bool hf_scheme = false;
  std::vector<std::string> parts;  // org/name[/resolve|blob|tree/REV[/FILE...]]
  if (text.rfind("https://", 0) == 0 || text.rfind("http://", 0) == 0) {
    auto segs = net::UrlPathSegments(text);  // percent-decoded: "weird%5B1%5D" is "weird[1]"
    if (!segs) return std::nullopt;
    parts = std::move(*segs);
  } else {
    hf_scheme = text.rfind("hf://", 0) == 0;
    std::string rest = hf_scheme ? text.substr(5) : text;
    size_t pos = 0;
    while (pos <= rest.size()) {
      size_t slash = rest.find('/', pos);
      parts.push_back(
          rest.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos));
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
  }
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  if (parts.size() < 2) return std::nullopt;
  // A repository is exactly org/name: "a%2Fb/c" decodes to a segment holding a '/'.
  if (parts[0].find('/') != std::string::npos || parts[1].find('/') != std::string::npos)
    return std::nullopt;
  ref.repo_id = parts[0] + "/" + parts[1];
  if (!ValidateModelName(ref.repo_id).ok()) return std::nullopt;
  if (parts.size() >= 4 && (parts[2] == "resolve" || parts[2] == "blob" || parts[2] == "tree")) {
    ref.revision = parts[3];
    for (size_t i = 4; i < parts.size(); ++i) ref.file += (i > 4 ? "/" : "") + parts[i];
  } else if (hf_scheme && parts.size() > 2) {  // hf://org/name/path/to/file, at main
    for (size_t i = 2; i < parts.size(); ++i) ref.file += (i > 2 ? "/" : "") + parts[i];
  } else if (parts.size() != 2) {
    return std::nullopt;
  }
  return ref;
}

Result<std::vector<HubFile>> ParseHubTree(std::string_view body, const std::string& repo_id,
                                          const std::string& commit, const std::string& endpoint) {
  auto tj = ParseJsonOrDiscarded(body);
  if (!tj.is_array())
    return Status::Corrupt("the Hub's file listing of " + repo_id + " is not a list");
  std::vector<HubFile> files;
  for (const auto& item : tj) {
    if (!item.is_object() || StringField(item, "type").value_or("") != "file") continue;
    HubFile f;
    auto path = StringField(item, "path");
    auto size = SizeField(item, "size");
    auto oid = StringField(item, "oid");
    if (!path || !size || !oid) {
      return Status::Corrupt(
          "the Hub's file listing of " + repo_id +
          " has an entry with a missing or mistyped path, size or oid: " +
          item.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).substr(0, 200));
    }
    f.path = *path;
    // The path names a file on disk: checked like an archive entry (no '..', no
    // absolute path, no '.git' component, ...), before anything else is done with it.
    if (Status s = ValidateRelativePath(f.path); !s.ok()) {
      return Status::Corrupt("the Hub listed a bad path in " + repo_id + ": " + s.message());
    }
    f.size = *size;
    f.git_sha1 = *oid;
    if (auto lfs = item.find("lfs"); lfs != item.end() && lfs->is_object()) {
      auto sha = StringField(*lfs, "oid");
      auto lfs_size = SizeField(*lfs, "size");
      if (!sha || !lfs_size) {
        return Status::Corrupt("the Hub's file listing of " + repo_id +
                               " has a mistyped LFS entry for " + f.path);
      }
      f.sha256 = *sha;
      if (lfs->contains("size")) f.size = *lfs_size;
    }
    f.url = endpoint + "/" + repo_id + "/resolve/" + commit + "/" +
            net::PercentEncode(f.path, /*keep_slashes=*/true);
    files.push_back(std::move(f));
  }
  return files;
}

Result<HubPlan> ResolveHub(const std::string& repo_id, const std::string& revision,
                           const HubSelect& select, const HubConfig& config) {
  if (Status s = ValidateModelName(repo_id); !s.ok()) return s;
  if (Status s = ValidateRevision(revision); !s.ok()) return s;
  if (config.offline) {
    return Status::Unavailable("HF_HUB_OFFLINE is set: not asking the Hub about " + repo_id);
  }
  HubPlan plan;
  plan.repo_id = repo_id;
  plan.revision = revision;

  auto rev = ApiGet(config.endpoint + "/api/models/" + repo_id + "/revision/" + revision, config);
  if (!rev.has_value()) return rev.error();
  if (rev->status != 200) return HubError(*rev, repo_id, revision, config);
  auto rj = ParseJsonOrDiscarded(rev->body);
  if (!rj.is_object() || !rj.contains("sha") || !rj["sha"].is_string()) {
    return Status::Corrupt("the Hub's revision answer for " + repo_id + " has no commit");
  }
  plan.commit = rj["sha"].get<std::string>();
  if (Status s = ValidateRevision(plan.commit); !s.ok()) return s;

  std::vector<HubFile> all;
  std::string url =
      config.endpoint + "/api/models/" + repo_id + "/tree/" + plan.commit + "?recursive=true";
  for (int page = 0; !url.empty(); ++page) {
    if (page > 10000)
      return Status::Corrupt("the Hub's file listing of " + repo_id + " does not end");
    auto tree = ApiGet(url, config);
    if (!tree.has_value()) return tree.error();
    if (tree->status != 200) return HubError(*tree, repo_id, revision, config);
    auto files = ParseHubTree(tree->body, repo_id, plan.commit, config.endpoint);
    if (!files.has_value()) return files.error();
    all.insert(all.end(), std::make_move_iterator(files->begin()),
               std::make_move_iterator(files->end()));
    auto link = tree->headers.find("link");
    url = link == tree->headers.end() ? "" : net::NextLink(link->second);
    // Follow pages on the endpoint only: the token must not go anywhere else.
    if (!url.empty() && net::UrlOrigin(url) != net::UrlOrigin(config.endpoint)) {
      return Status::Corrupt("the Hub's next page points to another host: " + url);
    }
  }

  plan.files = std::move(all);
  return SelectHubFiles(std::move(plan), select);
}

Result<HubPlan> SelectHubFiles(HubPlan listing, const HubSelect& select) {
  HubPlan plan = listing;
  plan.files.clear();
  plan.total_size = 0;
  for (auto& f : listing.files) {
    bool keep = select.include.empty();
    for (const auto& g : select.include) keep = keep || GlobMatch(g, f.path);
    for (const auto& g : select.exclude) keep = keep && !GlobMatch(g, f.path);
    if (keep && !select.quantization.empty()) {
      // Q4_K_M picks model-Q4_K_M.gguf and its split parts (...-00001-of-00003.gguf).
      keep = IsGguf(f.path) && HasToken(AsciiLower(f.path), AsciiLower(select.quantization));
    }
    if (keep) {
      plan.total_size += f.size;
      plan.files.push_back(f);
    }
  }
  if (plan.files.empty()) {
    // Says what was asked for: a file's path, the globs.
    std::string globs;
    for (const auto& g : select.include) globs += (globs.empty() ? "" : " or ") + g;
    for (size_t i = 0; i < select.exclude.size(); ++i)
      globs += (i == 0 ? (globs.empty() ? "not " : " and not ") : " or ") + select.exclude[i];
    std::string what = !select.quantization.empty()
                           ? "no GGUF file for quantization " + select.quantization
                       : globs.empty() ? "no file"
                                       : "no file matching " + globs;
    std::string available;
    for (const auto& f : listing.files) {
      if (!select.quantization.empty() && !IsGguf(f.path)) continue;
      available += (available.empty() ? "" : ", ") + f.path;
      if (available.size() > 300) break;
    }
    return Status::NotFound(what + " in " + plan.repo_id + "@" + plan.revision +
                            (available.empty() ? "" : " (files: " + available + ")"));
  }
  std::sort(plan.files.begin(), plan.files.end(),
            [](const HubFile& a, const HubFile& b) { return a.path < b.path; });
  return plan;
}

}  // namespace modeld::sources
