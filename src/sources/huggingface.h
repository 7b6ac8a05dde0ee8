// The Hugging Face Hub as a source: a repository and revision become a plan of files to
// fetch, each with its size and digest (PEERS.md section 2.1).
//
// The revision is resolved to a commit first (GET /api/models/{repo}/revision/{rev}), so
// every file comes from one snapshot; the files come from the recursive tree API,
// following its Link: rel="next" pages; each is fetched from
// {endpoint}/{repo}/resolve/{commit}/{path}. The token goes to the endpoint only.
//
// Thread safety: stateless functions; ResolveHub blocks (call from a worker thread).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace modeld::sources {

struct HubConfig {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::string token;                                // HF_TOKEN
  bool offline = false;                             // HF_HUB_OFFLINE
  std::chrono::milliseconds timeout{15000};
  // API calls that fail (429, 5xx, the network) are retried until they have been failing
  // for retry_for, waits growing to max_backoff (a Retry-After is honoured within the
  // budget); max_retries >= 0 also bounds the tries.
  std::chrono::milliseconds retry_for{120'000};
  int max_retries = -1;
  std::chrono::milliseconds max_backoff{15'000};
  static HubConfig FromEnvironment();
};

struct HubFile {
  std::string path;
  uint64_t size = 0;
  std::string sha256;    // LFS files: the content's SHA-256
  std::string git_sha1;  // every file: the git blob id (sha1 of "blob <size>\0" + content)
  std::string url;       // resolve URL at the commit
  bool lfs() const { return !sha256.empty(); }
};

struct HubPlan {
  std::string repo_id;
  std::string revision;
  std::string commit;
  std::vector<HubFile> files;
  uint64_t total_size = 0;
};

struct HubSelect {
  std::vector<std::string> include;  // globs; empty means everything
  std::vector<std::string> exclude;
  std::string quantization;  // e.g. Q4_K_M: only the matching .gguf files
};

// "org/repo", "hf://org/repo", "hf://org/repo/path/to/file" (at main),
// "https://huggingface.co/org/repo[/resolve/REV/FILE]" and "hf://org/repo/resolve/REV/FILE"
// (any endpoint host). |file| is set for links to one file.
struct HubReference {
  std::string repo_id;
  std::string revision = "main";
  std::string file;
};
std::optional<HubReference> ParseHubReference(const std::string& text);

// NotFound (repository, revision, or no file matched), PermissionDenied (gated or
// private: says to accept the licence or set HF_TOKEN), Unavailable (network, rate
// limits after retries, or offline), InvalidArgument (bad names).
Result<HubPlan> ResolveHub(const std::string& repo_id, const std::string& revision,
                           const HubSelect& select, const HubConfig& config);

// One page of the recursive tree listing (GET /api/models/{repo}/tree/{commit}): its
// files (directories are skipped), each with the URL {endpoint}/{repo}/resolve/{commit}/
// {path, percent-encoded}. Corrupt for a page that is not a JSON list, an entry whose
// path, size or oid is mistyped, or a path ValidateRelativePath refuses (a missing one
// too); a missing size or oid reads as 0 or "". Pure; never throws.
Result<std::vector<HubFile>> ParseHubTree(std::string_view body, const std::string& repo_id,
                                          const std::string& commit, const std::string& endpoint);

// Keeps the files of |listing| that |select| picks, sorted by path. NotFound (listing
// what there is) when none is left.
Result<HubPlan> SelectHubFiles(HubPlan listing, const HubSelect& select);

// fnmatch-style glob where '*' also crosses '/', as huggingface_hub's allow_patterns.
bool GlobMatch(const std::string& pattern, const std::string& path);
// A glob matching exactly |path| (fnmatch's special characters escaped).
std::string ExactGlob(const std::string& path);

}  // namespace modeld::sources
