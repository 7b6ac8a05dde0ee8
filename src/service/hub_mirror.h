// HubMirror: the store served as a Hugging Face Hub endpoint, a pull-through mirror
// (docs/mirror.md). The `hub` dialect (api/hub/) maps the Hub's HTTP API onto it.
//
// Repositories: a revision is resolved to a commit (a branch or tag is asked upstream
// again after MirrorOptions::ref_ttl; a commit never is), and a commit's listing (its
// description and every file and directory) is fetched once from the upstream and kept
// in the registry, so a repository seen once is still served when the upstream is down
// or rate-limiting (a stale ref is used then). The upstream's refusals (RepoNotFound,
// RevisionNotFound, GatedRepo) are kept for MirrorOptions::negative_ttl.
//
// Files: a file the store holds (a mirrored blob, or a model's blob of that digest) is
// served from its blob. Otherwise one download starts (the engine, segmented, verified by
// the LFS sha256 or the git blob id) and every client asking for that file meanwhile,
// whole or a range, reads the partial file as its bytes land (single flight): the
// upstream sends each file once however many clients ask. The last byte of a response
// that reaches the end of the file is held back until the file is verified, so a file
// whose digest does not match fails every stream still reading it (closed before its
// Content-Length) and nothing is installed; the next request starts again.
//
// Policy: repositories allowed and denied by glob, a maximum file size, an upstream token
// used only upstream, and gated or private repositories served only to clients presenting
// one of MirrorOptions::client_tokens. Nothing of Xet is passed on.
//
// Thread safety: every method is safe from any thread. Repo and Open block (the registry,
// the upstream): call them from a worker thread. A FileSource is safe from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/file_source.h"
#include "core/status.h"

namespace modeld::service {

struct MirrorOptions {
  std::string upstream = "https://huggingface.co";  // the Hub (--hub-upstream)
  std::string upstream_token;                       // HF_TOKEN: sent to the upstream only
  std::vector<std::string> allow;  // repository globs ("org/*"); empty: every repository
  std::vector<std::string> deny;   // refused even when allowed
  uint64_t max_file_size = 0;      // 0: no limit
  // Tokens a client must present (Authorization: Bearer) for a gated or private
  // repository; empty: such repositories are not served.
  std::vector<std::string> client_tokens;
  std::chrono::milliseconds ref_ttl{60'000};
  std::chrono::milliseconds negative_ttl{10'000};
  std::chrono::milliseconds upstream_timeout{15'000};
  // How long an upstream API call keeps being retried before the mirror answers from its
  // cache or with 502/504.
  std::chrono::milliseconds upstream_retry_for{5'000};
  // Instances sharing a registry and a blob directory (docs/mirror.md, "A fleet"): the one
  // fetching a file holds the registry lease "mirror:<etag>" for lease_ttl, renewing it
  // as it goes; another takes the file over when it expires. |instance| names this one
  // in the lease (default: the host name); instances of one name act as one host (they
  // share file locks, and take over a gone one's lease at once).
  std::string instance;
  std::chrono::milliseconds lease_ttl{10'000};
};

enum class HubKind { kModel, kDataset };

struct MirrorEntry {
  bool directory = false;
  std::string path;
  uint64_t size = 0;
  std::string oid;      // git blob id or tree id
  std::string lfs_oid;  // LFS: the sha256 of the content
  uint64_t lfs_pointer_size = 0;
  bool lfs() const { return !lfs_oid.empty(); }
  // The file's ETag: the sha256 of an LFS file, else its git blob id.
  const std::string& etag() const { return lfs() ? lfs_oid : oid; }
};

struct MirrorRepo {
  HubKind kind = HubKind::kModel;
  std::string repo_id;  // "org/name"
  std::string commit;
  nlohmann::json info;               // the upstream's description, without siblings or Xet
  std::vector<MirrorEntry> entries;  // sorted by path
  bool gated = false;
  // The entry at |path|, or null.
  const MirrorEntry* Find(const std::string& path) const;
};

// What the mirror has done, for tests, metrics and the bench.
struct MirrorStats {
  uint64_t fetches_started = 0;  // upstream file downloads started
  uint64_t served_from_store = 0;
  uint64_t joined = 0;  // opens that joined a download in progress
  uint64_t listings_fetched = 0;
};

class HubMirror {
 public:
  virtual ~HubMirror() = default;
  // The repository at |revision|, for a client presenting |client_token| ("" for none).
  // Errors carry what the Hub would answer: a kHubUpstream Info (status and X-Error-Code)
  // for the upstream's refusals and the mirror's own (a repository the policy refuses is
  // PermissionDenied; a gated one without an accepted token PermissionDenied with code
  // GatedRepo); Unavailable when the upstream cannot be reached and nothing is cached.
  virtual Result<std::shared_ptr<const MirrorRepo>> Repo(HubKind kind, const std::string& repo_id,
                                                         const std::string& revision,
                                                         const std::string& client_token) = 0;
  // The bytes of file |entry| of |repo|: its blob, or the download of it (started now, or
  // joined). PermissionDenied past MirrorOptions::max_file_size.
  virtual Result<std::shared_ptr<FileSource>> Open(const MirrorRepo& repo,
                                                   const MirrorEntry& entry) = 0;
  // Whether Open would serve |entry| by the policy (a HEAD's answer): what Open refuses
  // before it looks at the store.
  virtual Status CheckFile(const MirrorEntry& entry) const = 0;
  virtual MirrorStats Stats() const = 0;
};

}  // namespace modeld::service
