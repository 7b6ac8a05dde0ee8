#include "sources/hub_upstream.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/checksum.h"
#include "core/error_reasons.h"
#include "core/json.h"
#include "core/names.h"
#include "net/fetch.h"
#include "net/http.h"

namespace modeld::sources {

namespace {

constexpr int kMaxPages = 10000;

std::string UpstreamHeader(const net::FetchResponse& r, const char* name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

// The Hub's error answer, kept for the mirror to pass on (X-Error-Code and all).
Status UpstreamError(const net::FetchResponse& r, const std::string& what) {
  std::string code = UpstreamHeader(r, "x-error-code");
  std::string message = UpstreamHeader(r, "x-error-message");
  Status::Info info{reason::kHubUpstream,
                    {{"status", std::to_string(r.status)}, {"code", code}, {"message", message}}};
  std::string text = "the Hub answered HTTP " + std::to_string(r.status) +
                     (code.empty() ? "" : " (" + code + ")") + " for " + what;
  if (r.status == 401 || r.status == 403) return Status::PermissionDenied(text).WithInfo(info);
  if (r.status == 404) return Status::NotFound(text).WithInfo(info);
  return Status::Unavailable(text).WithInfo(info);
}

Result<net::FetchResponse> UpstreamGet(const std::string& url, const HubConfig& config) {
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

std::optional<std::string> StringAt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

std::optional<uint64_t> SizeAt(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return uint64_t{0};
  if (!it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

bool IsLowerHex(std::string_view s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Drops what a client could use to go around the mirror (Xet) from a description.
void StripXet(nlohmann::json& j) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end();) {
      std::string key = it.key();
      std::string lower;
      for (char c : key) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (lower.find("xet") != std::string::npos) {
        it = j.erase(it);
      } else {
        StripXet(*it);
        ++it;
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j) StripXet(v);
  }
}

// Directories the listing implies but did not list (an upstream that lists files only).
void AddMissingDirectories(std::vector<HubEntry>& entries) {
  std::set<std::string> dirs;
  for (const auto& e : entries) {
    if (e.directory) dirs.insert(e.path);
  }
  std::vector<HubEntry> added;
  for (const auto& e : entries) {
    for (size_t slash = e.path.find('/'); slash != std::string::npos;
         slash = e.path.find('/', slash + 1)) {
      std::string dir = e.path.substr(0, slash);
      if (dirs.insert(dir).second) {
        HubEntry d;
        d.directory = true;
        d.path = dir;
        // No tree id was given: a stable stand-in, git's id of an empty tree named by path.
        d.oid = HashHex(HashAlgorithm::kSha1, "tree " + dir);
        added.push_back(std::move(d));
      }
    }
  }
  entries.insert(entries.end(), added.begin(), added.end());
}

}  // namespace

std::string_view HubKindPlural(HubRepoKind kind) {
  return kind == HubRepoKind::kDataset ? "datasets" : "models";
}

Status ValidateHubRevision(std::string_view rev) {
  auto bad = [&] {
    return Status::InvalidArgument("bad revision '" + std::string(rev.substr(0, 300)) + "'");
  };
  if (rev.empty() || rev.size() > 256 || rev.front() == '/' || rev.back() == '/') return bad();
  if (rev.find("..") != std::string_view::npos || rev.find("//") != std::string_view::npos)
    return bad();
  for (char c : rev) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
          c == '/')) {
      return bad();
    }
  }
  return Status::OK();
}

bool IsHubCommit(std::string_view revision) { return IsLowerHex(revision, 40); }

Result<std::vector<HubEntry>> ParseHubEntries(std::string_view body, const std::string& repo_id) {
  auto tj = ParseJsonOrDiscarded(body);
  if (!tj.is_array()) return Status::Corrupt("the Hub's listing of " + repo_id + " is not a list");
  std::vector<HubEntry> out;
  for (const auto& item : tj) {
    if (!item.is_object()) continue;
    auto type = StringAt(item, "type");
    if (!type) return Status::Corrupt("the Hub's listing of " + repo_id + " has a mistyped type");
    if (*type != "file" && *type != "directory") continue;
    HubEntry e;
    e.directory = *type == "directory";
    auto path = StringAt(item, "path");
    auto size = SizeAt(item, "size");
    auto oid = StringAt(item, "oid");
    if (!path || !size || !oid) {
      return Status::Corrupt("the Hub's listing of " + repo_id +
                             " has an entry with a mistyped path, size or oid");
    }
    if (Status s = ValidateRelativePath(*path); !s.ok()) {
      return Status::Corrupt("the Hub listed a bad path in " + repo_id + ": " + s.message());
    }
    // The oid becomes an ETag header and names the file's download: git's id of the
    // blob or tree (SHA-1, or SHA-256 in a SHA-256 repository), nothing else.
    if (!IsLowerHex(*oid, 40) && !IsLowerHex(*oid, 64)) {
      return Status::Corrupt("the Hub's listing of " + repo_id + " has a bad oid for " + *path);
    }
    e.path = *path;
    e.size = e.directory ? 0 : *size;
    e.oid = *oid;
    if (auto lfs = item.find("lfs"); !e.directory && lfs != item.end() && lfs->is_object()) {
      auto sha = StringAt(*lfs, "oid");
      auto lfs_size = SizeAt(*lfs, "size");
      auto pointer = SizeAt(*lfs, "pointerSize");
      if (!sha || !lfs_size || !pointer || !IsLowerHex(*sha, 64)) {
        return Status::Corrupt("the Hub's listing of " + repo_id +
                               " has a mistyped LFS entry for " + e.path);
      }
      e.lfs_oid = *sha;
      if (lfs->contains("size")) e.size = *lfs_size;
      e.lfs_pointer_size = *pointer;
    }
    out.push_back(std::move(e));
  }
  return out;
}

nlohmann::json HubEntryJson(const HubEntry& e) {
  nlohmann::json j = {{"type", e.directory ? "directory" : "file"},
                      {"oid", e.oid},
                      {"size", e.size},
                      {"path", e.path}};
  if (e.lfs()) {
    j["lfs"] = {{"oid", e.lfs_oid}, {"size", e.size}, {"pointerSize", e.lfs_pointer_size}};
  }
  return j;
}

Result<HubListing> FetchHubRevision(HubRepoKind kind, const std::string& repo_id,
                                    const std::string& revision, const HubConfig& config) {
  if (Status s = ValidateModelName(repo_id); !s.ok() || repo_id.find('/') == std::string::npos) {
    return Status::InvalidArgument("bad repository '" + repo_id + "': expected org/name");
  }
  if (Status s = ValidateHubRevision(revision); !s.ok()) return s;
  if (config.offline) return Status::Unavailable("HF_HUB_OFFLINE is set: not asking the Hub");
  std::string api = config.endpoint + "/api/" + std::string(HubKindPlural(kind)) + "/" + repo_id;
  HubListing listing;
  listing.kind = kind;
  listing.repo_id = repo_id;

  auto rev = UpstreamGet(api + "/revision/" + net::PercentEncode(revision), config);
  if (!rev.has_value()) return rev.error();
  if (rev->status != 200) return UpstreamError(*rev, repo_id + "@" + revision);
  auto info = ParseJsonOrDiscarded(rev->body);
  auto sha = info.is_object() ? StringAt(info, "sha") : std::nullopt;
  if (!sha || !IsHubCommit(*sha)) {
    return Status::Corrupt("the Hub's answer for " + repo_id + "@" + revision + " names no commit");
  }
  listing.commit = *sha;
  info.erase("siblings");
  StripXet(info);
  if (auto g = info.find("gated"); g != info.end()) {
    listing.gated =
        (g->is_boolean() && g->get<bool>()) || (g->is_string() && !g->get<std::string>().empty());
  }
  if (auto p = info.find("private"); p != info.end() && p->is_boolean())
    listing.is_private = p->get<bool>();
  listing.info = std::move(info);
  return listing;
}

Status FetchHubTree(HubListing& listing, const HubConfig& config) {
  const std::string& repo_id = listing.repo_id;
  std::string api =
      config.endpoint + "/api/" + std::string(HubKindPlural(listing.kind)) + "/" + repo_id;
  std::string url = api + "/tree/" + listing.commit + "?recursive=true";
  for (int page = 0; !url.empty(); ++page) {
    if (page > kMaxPages)
      return Status::Corrupt("the Hub's listing of " + repo_id + " does not end");
    auto tree = UpstreamGet(url, config);
    if (!tree.has_value()) return tree.error();
    if (tree->status != 200) return UpstreamError(*tree, repo_id + "@" + listing.commit);
    auto entries = ParseHubEntries(tree->body, repo_id);
    if (!entries.has_value()) return entries.error();
    listing.entries.insert(listing.entries.end(), std::make_move_iterator(entries->begin()),
                           std::make_move_iterator(entries->end()));
    url = net::NextLink(UpstreamHeader(*tree, "link"));
    if (!url.empty() && net::UrlOrigin(url) != net::UrlOrigin(config.endpoint)) {
      return Status::Corrupt("the Hub's next page points to another host: " + url);
    }
  }
  AddMissingDirectories(listing.entries);
  std::sort(listing.entries.begin(), listing.entries.end(),
            [](const HubEntry& a, const HubEntry& b) { return a.path < b.path; });
  listing.entries.erase(
      std::unique(listing.entries.begin(), listing.entries.end(),
                  [](const HubEntry& a, const HubEntry& b) { return a.path == b.path; }),
      listing.entries.end());
  return Status::OK();
}

Result<HubListing> FetchHubListing(HubRepoKind kind, const std::string& repo_id,
                                   const std::string& revision, const HubConfig& config) {
  auto listing = FetchHubRevision(kind, repo_id, revision, config);
  if (!listing.has_value()) return listing;
  if (Status s = FetchHubTree(*listing, config); !s.ok()) return s;
  return listing;
}

}  // namespace modeld::sources
