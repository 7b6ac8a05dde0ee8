// HubMimic: the parts of the Hugging Face Hub's HTTP API a client needs, served by a
// TestOrigin, for tests of the Hub source (PEERS.md section 2):
//   GET /api/models/{repo}/revision/{rev}          -> {"id", "sha", "siblings": [...]}
//   (and /api/datasets/..., /datasets/{repo}/resolve/... for datasets)
//   GET /api/models/{repo}/tree/{rev}?recursive=true -> [{type, path, size, oid, lfs}],
//       paginated with Link: <...&cursor=N>; rel="next"
//   GET|HEAD /{repo}/resolve/{rev}/{path}          -> LFS: 302 to /cdn/<sha256> with
//       X-Repo-Commit, X-Linked-Etag, X-Linked-Size; small files: 200 with ETag (git sha1)
// plus gated repositories (401 + X-Error-Code: GatedRepo without the right token),
// unknown repos, revisions and files (404 + X-Error-Code), and 429 + Retry-After.
//
// Thread safety: configure before use; requests are served from origin threads.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "origin.h"

namespace modeld::testing {

struct HubRepoFile {
  std::string path;
  std::string content;
  bool lfs = false;  // LFS files are served from the CDN path, with their sha256
};

class HubMimic {
 public:
  // LFS files are served from |cdn| (another host, as the real Hub's CDN is), or from
  // |origin| itself when null.
  explicit HubMimic(TestOrigin& origin, TestOrigin* cdn = nullptr);
  // Adds |repo_id| ("org/name"; a dataset: "datasets/org/name") with |files| at |commit|; |refs|
  // maps branch/tag names to it ("main" at least). |gated_token| non-empty: requests need that
  // bearer token.
  void AddRepo(const std::string& repo_id, const std::string& commit,
               const std::vector<std::string>& refs, std::vector<HubRepoFile> files,
               const std::string& gated_token = "");
  void SetPageSize(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    page_size_ = n;
  }
  // The next |n| API requests get 429 with Retry-After: |seconds|.
  void RateLimitNext(int n, int seconds);
  std::string Endpoint() const { return origin_.Url(""); }
  // Authorization headers the Hub API and resolve endpoints received (not the CDN).
  std::vector<std::string> AuthSeen() const;

  // The CDN path an LFS file is served from now ("/cdn/<generation>/<sha256>").
  std::string CdnPath(const std::string& content) const;
  // Expires every CDN link handed out so far (they answer 403, as an expired signed URL
  // does) and serves the files under new ones.
  void RotateCdnLinks();
  // Serves |content| for |path| of |repo_id| while the listing keeps the true digest (a
  // Hub or a proxy that lies); empty to stop.
  void ServeInstead(const std::string& repo_id, const std::string& path,
                    const std::string& content);

  static std::string GitBlobSha1(const std::string& content);

 private:
  struct Repo {
    std::string commit;
    std::vector<std::string> refs;
    std::vector<HubRepoFile> files;
    std::string token;
  };
  SimpleResponse Api(const std::string& method, const std::string& target,
                     const std::map<std::string, std::string>& headers);
  SimpleResponse Resolve(const std::string& method, const std::string& target,
                         const std::map<std::string, std::string>& headers);
  // Finds the repo whose id prefixes |rest| ("org/name/..."); fills |after|.
  Repo* FindRepo(const std::string& rest, std::string* repo_id, std::string* after);
  std::optional<SimpleResponse> Gate(Repo& repo, const std::map<std::string, std::string>& headers);

  TestOrigin& origin_;
  TestOrigin& cdn_;
  mutable std::mutex mu_;
  std::map<std::string, Repo> repos_;
  size_t page_size_ = 1000;
  int rate_limited_ = 0;
  int retry_after_ = 1;
  std::vector<std::string> auth_seen_;
  int generation_ = 0;
  std::map<std::string, std::string> served_instead_;  // "repo/path" -> bytes
};

// The small repositories the Hub tests share, at |commit|: "org/tiny" (refs main and v1.0)
// with config.json (kTinyConfig), tokenizer/vocab.txt, model.safetensors (TinyWeights()),
// gguf/tiny-Q4_K_M-0000{1,2}-of-00002.gguf (a split GGUF) and gguf/tiny-Q8_0.gguf
// (TinyQ8()); "org/gated" (w.bin) needs the token kGatedToken.
inline const std::string kTinyConfig = "{\"model_type\": \"llama\"}";
inline const std::string kGatedToken = "hf_secret";
std::string TinyWeights();
std::string TinyQ8();
void AddTinyRepos(HubMimic& hub, const std::string& commit);

// A Hub mimic with its API on one origin and its CDN on another (as the real Hub's is).
// The mimic's handlers run on the origins' threads: the destructor stops those first.
struct HubOrigins {
  TestOrigin api, cdn;
  HubMimic hub{api, &cdn};
  ~HubOrigins() {
    api.Stop();
    cdn.Stop();
  }
};

// A fixture's Hub: derive from it (beside ::testing::Test) for api_, cdn_ and hub_.
class HubFixture {
 protected:
  HubOrigins hub_origins_;
  TestOrigin& api_ = hub_origins_.api;
  TestOrigin& cdn_ = hub_origins_.cdn;
  HubMimic& hub_ = hub_origins_.hub;
};

}  // namespace modeld::testing
