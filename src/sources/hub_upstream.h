// The Hugging Face Hub as a mirror's upstream (PEERS.md section 2): a repository's
// description and its whole recursive listing at one commit, as the Hub gives them, for
// modeld to serve again over the Hub's own protocol (service/hub_mirror.h).
//
// Unlike the Hub source (huggingface.h), which plans files to install, this keeps what a
// Hub client reads: directories with their tree ids, git blob ids, LFS pointers, datasets,
// and revisions such as "refs/pr/1". What the Hub says of Xet (xetHash) is not kept.
//
// Thread safety: stateless functions; FetchHubListing blocks (call from a worker thread).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sources/huggingface.h"

namespace modeld::sources {

enum class HubRepoKind { kModel, kDataset };
// "models", "datasets": the API's path segment.
std::string_view HubKindPlural(HubRepoKind kind);

// One entry of a repository's tree: a file or a directory.
struct HubEntry {
  bool directory = false;
  std::string path;     // validated: relative, normal, no ".." or ".git" component
  uint64_t size = 0;    // a file's size (its LFS size for LFS files); 0 for directories
  std::string oid;      // git blob id (files) or tree id (directories)
  std::string lfs_oid;  // LFS files: the content's SHA-256 (64 lower-case hex digits)
  uint64_t lfs_pointer_size = 0;
  bool lfs() const { return !lfs_oid.empty(); }
};

struct HubListing {
  HubRepoKind kind = HubRepoKind::kModel;
  std::string repo_id;  // "org/name"
  std::string commit;   // 40 hex digits
  // The Hub's description of the repository at that commit (GET /api/models/{repo}/
  // revision/{commit}), without "siblings" (rebuilt from |entries|) and anything of Xet.
  nlohmann::json info = nlohmann::json::object();
  std::vector<HubEntry> entries;  // files and directories, sorted by path
  bool gated = false;             // the Hub said "gated" (a string or true)
  bool is_private = false;
};

// A revision a client may name: a branch, a tag, a commit, or "refs/pr/N" (1-256
// characters of [A-Za-z0-9._/-], no "..", no empty path component).
Status ValidateHubRevision(std::string_view revision);
// A commit id: 40 lower-case hex digits.
bool IsHubCommit(std::string_view revision);

// The repository |repo_id| of |kind| at |revision|: its commit, description and every
// entry (following the tree API's Link: rel="next" pages, on the endpoint only). The token
// of |config| goes to its endpoint only. Errors: the Hub's own answers as Unavailable,
// NotFound or PermissionDenied with a kHubUpstream Info (status, X-Error-Code, message);
// Unavailable when it cannot be reached (after FetchRetrying's budget); Corrupt when its
// answers cannot be read; InvalidArgument for a bad name or revision.
Result<HubListing> FetchHubListing(HubRepoKind kind, const std::string& repo_id,
                                   const std::string& revision, const HubConfig& config);
// Its two halves: the commit and description (one call; no entries), then every entry of
// that commit (the tree's pages), for a caller that may know the commit's listing.
Result<HubListing> FetchHubRevision(HubRepoKind kind, const std::string& repo_id,
                                    const std::string& revision, const HubConfig& config);
Status FetchHubTree(HubListing& listing, const HubConfig& config);

// One page of the tree listing, directories included. Corrupt for a page that is not a
// list, an entry whose type, path, size or oid is mistyped, or a path ValidateRelativePath
// refuses; entries of other types (submodules) are skipped. Pure; never throws.
Result<std::vector<HubEntry>> ParseHubEntries(std::string_view body, const std::string& repo_id);

// An entry as the Hub's tree and paths-info APIs show it: {type, oid, size, path, lfs}.
nlohmann::json HubEntryJson(const HubEntry& e);

}  // namespace modeld::sources
