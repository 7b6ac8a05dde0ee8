#include "hub_mimic.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "core/checksum.h"

namespace modeld::testing {

using nlohmann::json;

std::string HubMimic::GitBlobSha1(const std::string& content) {
  return HashHex(HashAlgorithm::kSha1, "blob " + std::to_string(content.size()) + '\0' + content);
}

HubMimic::HubMimic(TestOrigin& origin, TestOrigin* cdn)
    : origin_(origin), cdn_(cdn ? *cdn : origin) {
  for (const char* prefix : {"/api/models/", "/api/datasets/"}) {
    origin_.Handle(prefix,
                   [this](const std::string& m, const std::string& t,
                          const std::map<std::string, std::string>& h) { return Api(m, t, h); });
  }
}

std::string TinyWeights() { return RandomBytes(300000, 1); }
std::string TinyQ8() { return RandomBytes(150000, 4); }

void AddTinyRepos(HubMimic& hub, const std::string& commit) {
  hub.AddRepo("org/tiny", commit, {"main", "v1.0"},
              {{"config.json", kTinyConfig, false},
               {"tokenizer/vocab.txt", "a\nb\n", false},
               {"model.safetensors", TinyWeights(), true},
               {"gguf/tiny-Q4_K_M-00001-of-00002.gguf", RandomBytes(200000, 2), true},
               {"gguf/tiny-Q4_K_M-00002-of-00002.gguf", RandomBytes(100000, 3), true},
               {"gguf/tiny-Q8_0.gguf", TinyQ8(), true}});
  hub.AddRepo("org/gated", commit, {"main"}, {{"w.bin", RandomBytes(5000, 5), true}}, kGatedToken);
}

void HubMimic::AddRepo(const std::string& repo_id, const std::string& commit,
                       const std::vector<std::string>& refs, std::vector<HubRepoFile> files,
                       const std::string& gated_token) {
  for (const auto& f : files) {
    if (f.lfs) cdn_.Put(CdnPath(f.content), {.content = f.content});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    repos_[repo_id] = Repo{commit, refs, std::move(files), gated_token};
  }
  origin_.Handle("/" + repo_id + "/resolve/",
                 [this](const std::string& m, const std::string& t,
                        const std::map<std::string, std::string>& h) { return Resolve(m, t, h); });
}

std::string HubMimic::CdnPath(const std::string& content) const {
  return "/cdn/" + std::to_string(generation_) + "/" + Sha256Hex(content);
}

void HubMimic::RotateCdnLinks() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, repo] : repos_) {
    for (const auto& f : repo.files) {
      if (!f.lfs) continue;
      cdn_.Update(CdnPath(f.content), [](FileSpec& spec) {
        spec.fail_status = 403;
        spec.fail_times = -1;
      });
    }
  }
  ++generation_;
  for (const auto& [id, repo] : repos_) {
    for (const auto& f : repo.files) {
      if (f.lfs) cdn_.Put(CdnPath(f.content), {.content = f.content});
    }
  }
}

void HubMimic::ServeInstead(const std::string& repo_id, const std::string& path,
                            const std::string& content) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = repo_id + "/" + path;
  for (const auto& f : repos_[repo_id].files) {
    if (f.path == path && f.lfs) {
      cdn_.Update(CdnPath(f.content),
                  [&](FileSpec& spec) { spec.content = content.empty() ? f.content : content; });
    }
  }
  if (content.empty()) {
    served_instead_.erase(key);
  } else {
    served_instead_[key] = content;
  }
}

void HubMimic::RateLimitNext(int n, int seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  rate_limited_ = n;
  retry_after_ = seconds;
}

std::vector<std::string> HubMimic::AuthSeen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return auth_seen_;
}

HubMimic::Repo* HubMimic::FindRepo(const std::string& rest, std::string* repo_id,
                                   std::string* after) {
  for (auto& [id, repo] : repos_) {
    if (rest.rfind(id + "/", 0) == 0 || rest == id) {
      *repo_id = id;
      *after = rest.size() > id.size() ? rest.substr(id.size() + 1) : "";
      return &repo;
    }
  }
  return nullptr;
}

static SimpleResponse HubError(int status, const std::string& code, const std::string& message) {
  return SimpleResponse{
      status,
      {{"Content-Type", "application/json"}, {"X-Error-Code", code}, {"X-Error-Message", message}},
      json{{"error", message}}.dump()};
}

std::optional<SimpleResponse> HubMimic::Gate(Repo& repo,
                                             const std::map<std::string, std::string>& headers) {
  auto it = headers.find("authorization");
  auth_seen_.push_back(it == headers.end() ? "" : it->second);
  if (rate_limited_ > 0) {
    --rate_limited_;
    return SimpleResponse{429, {{"Retry-After", std::to_string(retry_after_)}}, "rate limited"};
  }
  if (!repo.token.empty() && (it == headers.end() || it->second != "Bearer " + repo.token)) {
    return HubError(401, "GatedRepo", "Access to this repository is restricted.");
  }
  return std::nullopt;
}

SimpleResponse HubMimic::Api(const std::string& method, const std::string& target,
                             const std::map<std::string, std::string>& headers) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string path = target.substr(0, target.find('?'));
  std::string query =
      target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
  // A dataset is kept as "datasets/org/name" (its resolve path's prefix too).
  bool dataset = path.rfind("/api/datasets/", 0) == 0;
  std::string rest = (dataset ? "datasets/" : "") +
                     path.substr(std::string(dataset ? "/api/datasets/" : "/api/models/").size());
  std::string repo_id, after;
  Repo* repo = FindRepo(rest, &repo_id, &after);
  if (!repo) {
    auth_seen_.push_back(headers.count("authorization") ? headers.at("authorization") : "");
    return HubError(404, "RepoNotFound", "Repository not found");
  }
  if (auto gated = Gate(*repo, headers)) return *gated;
  // after: "revision/<rev>" or "tree/<rev>[/<dir>]"
  auto slash = after.find('/');
  std::string kind = after.substr(0, slash);
  std::string rev = slash == std::string::npos ? "" : after.substr(slash + 1);
  rev = rev.substr(0, rev.find('/'));
  bool known = rev == repo->commit ||
               std::find(repo->refs.begin(), repo->refs.end(), rev) != repo->refs.end();
  if (!known) return HubError(404, "RevisionNotFound", "Invalid rev id: " + rev);
  if (kind == "revision") {
    json siblings = json::array();
    for (const auto& f : repo->files) siblings.push_back({{"rfilename", f.path}});
    return SimpleResponse{200,
                          {{"Content-Type", "application/json"}},
                          json{{"_id", "mimic-" + repo_id},
                               {"id", dataset ? repo_id.substr(9) : repo_id},
                               {"sha", repo->commit},
                               {"private", false},
                               {"gated", repo->token.empty() ? json(false) : json("manual")},
                               {"siblings", siblings}}
                              .dump()};
  }
  if (kind == "tree") {
    size_t cursor = 0;
    auto c = query.find("cursor=");
    if (c != std::string::npos) cursor = std::stoul(query.substr(c + 7));
    json items = json::array();
    std::set<std::string> dirs;
    std::vector<json> all;
    for (const auto& f : repo->files) {
      for (size_t p = f.path.find('/'); p != std::string::npos; p = f.path.find('/', p + 1)) {
        if (dirs.insert(f.path.substr(0, p)).second) {
          // A tree id as the Hub gives one: 40 hex digits (here, of the path).
          std::string dir = f.path.substr(0, p);
          all.push_back({{"type", "directory"},
                         {"path", dir},
                         {"oid", HashHex(HashAlgorithm::kSha1, "tree " + dir)},
                         {"size", 0}});
        }
      }
      json item = {{"type", "file"},
                   {"path", f.path},
                   {"size", f.content.size()},
                   {"oid", GitBlobSha1(f.content)}};
      if (f.lfs) {
        item["lfs"] = {
            {"oid", Sha256Hex(f.content)}, {"size", f.content.size()}, {"pointerSize", 134}};
      }
      all.push_back(item);
    }
    for (size_t i = cursor; i < all.size() && i < cursor + page_size_; ++i) items.push_back(all[i]);
    SimpleResponse res{200, {{"Content-Type", "application/json"}}, items.dump()};
    if (cursor + page_size_ < all.size()) {
      res.headers.push_back({"Link", "<" + origin_.Url(path) + "?recursive=true&cursor=" +
                                         std::to_string(cursor + page_size_) + ">; rel=\"next\""});
    }
    return res;
  }
  return HubError(404, "EntryNotFound", "unknown API path");
}

SimpleResponse HubMimic::Resolve(const std::string& method, const std::string& target,
                                 const std::map<std::string, std::string>& headers) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string rest = target.substr(
      1, target.find('?') == std::string::npos ? std::string::npos : target.find('?') - 1);
  std::string repo_id, after;
  Repo* repo = FindRepo(rest, &repo_id, &after);
  if (!repo) return HubError(404, "RepoNotFound", "Repository not found");
  if (auto gated = Gate(*repo, headers)) return *gated;
  // after: "resolve/<rev>/<path>"
  std::string tail = after.substr(std::string("resolve/").size());
  std::string rev = tail.substr(0, tail.find('/'));
  std::string file =
      tail.find('/') == std::string::npos ? "" : PercentDecode(tail.substr(tail.find('/') + 1));
  bool known = rev == repo->commit ||
               std::find(repo->refs.begin(), repo->refs.end(), rev) != repo->refs.end();
  if (!known) return HubError(404, "RevisionNotFound", "Invalid rev id: " + rev);
  for (const auto& f : repo->files) {
    if (f.path != file) continue;
    if (f.lfs) {
      std::string sha = Sha256Hex(f.content);
      return SimpleResponse{302,
                            {{"Location", cdn_.Url(CdnPath(f.content))},
                             {"X-Repo-Commit", repo->commit},
                             {"X-Linked-Etag", "\"" + sha + "\""},
                             {"X-Linked-Size", std::to_string(f.content.size())},
                             {"ETag", "\"" + GitBlobSha1(f.content) + "\""},
                             {"Accept-Ranges", "bytes"}},
                            ""};
    }
    return SimpleResponse{200,
                          {{"X-Repo-Commit", repo->commit},
                           {"ETag", "\"" + GitBlobSha1(f.content) + "\""},
                           {"Content-Type", "application/octet-stream"}},
                          served_instead_.count(repo_id + "/" + f.path)
                              ? served_instead_[repo_id + "/" + f.path]
                              : f.content};
  }
  return HubError(404, "EntryNotFound", file + " does not exist on \"" + rev + "\"");
}

}  // namespace modeld::testing
