#include "service/hub_mirror.h"

#include <unistd.h>

#include <cstdio>
#include <optional>
#include <random>

#include "core/error_reasons.h"
#include "core/json.h"
#include "core/log.h"
#include "core/mutex.h"
#include "core/names.h"
#include "core/text.h"
#include "service/hub_mirror_impl.h"
#include "service/model_service.h"
#include "service/service_metrics.h"
#include "sources/hub_upstream.h"
#include "store/store.h"

namespace modeld::service {

using SteadyClock = std::chrono::steady_clock;

const MirrorEntry* MirrorRepo::Find(const std::string& path) const {
  auto it = std::lower_bound(entries.begin(), entries.end(), path,
                             [](const MirrorEntry& e, const std::string& p) { return e.path < p; });
  return it != entries.end() && it->path == path ? &*it : nullptr;
}

namespace {

std::string KindName(HubKind kind) { return kind == HubKind::kDataset ? "datasets" : "models"; }

nlohmann::json ListingJson(const sources::HubListing& l) {
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : l.entries) entries.push_back(sources::HubEntryJson(e));
  return {{"commit", l.commit},
          {"info", l.info},
          {"gated", l.gated || l.is_private},
          {"entries", std::move(entries)}};
}

// A listing as the registry keeps it (ListingJson); nullopt when damaged.
std::shared_ptr<MirrorRepo> RepoFromJson(HubKind kind, const std::string& repo_id,
                                         const std::string& text) {
  auto j = ParseJsonOrDiscarded(text);
  if (!j.is_object() || !j.contains("entries") || !j["entries"].is_array()) return nullptr;
  auto repo = std::make_shared<MirrorRepo>();
  repo->kind = kind;
  repo->repo_id = repo_id;
  auto commit = j.find("commit");
  if (commit == j.end() || !commit->is_string()) return nullptr;
  repo->commit = commit->get<std::string>();
  if (auto info = j.find("info"); info != j.end() && info->is_object()) repo->info = *info;
  if (auto g = j.find("gated"); g != j.end() && g->is_boolean()) repo->gated = g->get<bool>();
  auto parsed = sources::ParseHubEntries(j["entries"].dump(), repo_id);
  if (!parsed.has_value()) return nullptr;
  for (const auto& e : *parsed) {
    repo->entries.push_back(
        MirrorEntry{e.directory, e.path, e.size, e.oid, e.lfs_oid, e.lfs_pointer_size});
  }
  std::sort(repo->entries.begin(), repo->entries.end(),
            [](const MirrorEntry& a, const MirrorEntry& b) { return a.path < b.path; });
  return repo;
}

bool GlobAny(const std::vector<std::string>& globs, const std::string& repo) {
  for (const auto& g : globs) {
    if (sources::GlobMatch(g, repo)) return true;
  }
  return false;
}

}  // namespace

Status MirrorRefusal(int status, const std::string& code, const std::string& message) {
  Status::Info info{reason::kHubUpstream,
                    {{"status", std::to_string(status)}, {"code", code}, {"message", message}}};
  Status s = status == 404                    ? Status::NotFound(message)
             : status == 401 || status == 403 ? Status::PermissionDenied(message)
                                              : Status::Unavailable(message);
  return s.WithInfo(std::move(info));
}

// ---------------------------------------------------------------------------------------

MirrorImpl::MirrorImpl(store::Store& store, std::function<engine::Engine&()> engine,
                       MirrorOptions options)
    : store_(store), engine_(std::move(engine)), options_(std::move(options)) {
  while (!options_.upstream.empty() && options_.upstream.back() == '/')
    options_.upstream.pop_back();
  std::string instance = options_.instance;
  if (instance.empty()) {
    char host[256] = {};
    instance = ::gethostname(host, sizeof host - 1) == 0 && host[0] ? host : "localhost";
  }
  std::random_device random;
  char tag[9] = {};
  std::snprintf(tag, sizeof tag, "%08x", static_cast<unsigned>(random()));
  host_prefix_ = instance + ":";
  holder_ = host_prefix_ + std::to_string(::getpid()) + ":" + tag;
  if (options_.lease_ttl.count() < 1) options_.lease_ttl = std::chrono::milliseconds(1);
}

MirrorImpl::~MirrorImpl() {
  std::list<Runner> runners;
  std::vector<engine::TransferId> running;
  {
    MutexLock l(&mu_);
    stopping_ = true;
    stop_cv_.SignalAll();
    for (auto& [etag, f] : flights_) {
      if (f->transfer) running.push_back(f->transfer);
    }
    runners = std::move(runners_);
  }
  for (auto id : running) engine_().Stop(id);  // the partials stay for the next start
  for (auto& r : runners) r.thread.join();
}

sources::HubConfig MirrorImpl::Upstream() const {
  sources::HubConfig c;
  c.endpoint = options_.upstream;
  c.token = options_.upstream_token;
  c.timeout = options_.upstream_timeout;
  c.retry_for = options_.upstream_retry_for;
  c.max_backoff = std::chrono::milliseconds(2000);
  return c;
}

Status MirrorImpl::CheckPolicy(const std::string& repo_id) const {
  if (!ValidateModelName(repo_id).ok() || repo_id.find('/') == std::string::npos) {
    return MirrorRefusal(404, "RepoNotFound", "Repository not found: '" + repo_id + "'");
  }
  if ((!options_.allow.empty() && !GlobAny(options_.allow, repo_id)) ||
      GlobAny(options_.deny, repo_id)) {
    return MirrorRefusal(
        403, "", "modeld mirror: repository " + repo_id + " is not served by this mirror's policy");
  }
  return Status::OK();
}

Result<std::shared_ptr<const MirrorRepo>> MirrorImpl::Repo(HubKind kind, const std::string& repo_id,
                                                           const std::string& revision,
                                                           const std::string& client_token) {
  if (Status s = CheckPolicy(repo_id); !s.ok()) return s;
  if (!sources::ValidateHubRevision(revision).ok()) {
    return MirrorRefusal(404, "RevisionNotFound", "Invalid rev id: " + revision.substr(0, 100));
  }
  auto repo = Resolve(kind, repo_id, revision);
  if (!repo.has_value()) return repo.error();
  if ((*repo)->gated) {
    bool ok = false;
    for (const auto& t : options_.client_tokens)
      ok = ok || (!client_token.empty() && ConstantTimeEquals(t, client_token));
    if (!ok) {
      // As the Hub: a private repository is not said to exist; a gated one is.
      auto priv = (*repo)->info.find("private");
      if (priv != (*repo)->info.end() && priv->is_boolean() && priv->get<bool>()) {
        return MirrorRefusal(401, "RepoNotFound", "Repository not found: '" + repo_id + "'");
      }
      return MirrorRefusal(401, "GatedRepo",
                           "Access to repository " + repo_id +
                               " is restricted: present a token this mirror accepts");
    }
  }
  return repo;
}

Result<std::shared_ptr<const MirrorRepo>> MirrorImpl::Resolve(HubKind kind,
                                                              const std::string& repo_id,
                                                              const std::string& revision) {
  const std::string kname = KindName(kind);
  const std::string key = kname + "/" + repo_id + "@" + revision;
  auto now = SteadyClock::now();
  std::string commit;
  {
    MutexLock l(&mu_);
    if (auto n = negative_.find(key); n != negative_.end()) {
      if (now < n->second.until) return n->second.status;
      negative_.erase(n);
    }
    if (sources::IsHubCommit(revision)) {
      commit = revision;
    } else if (auto r = refs_.find(key);
               r != refs_.end() && now - r->second.checked < options_.ref_ttl) {
      commit = r->second.commit;
    }
    if (!commit.empty()) {
      if (auto c = listings_.find(kname + "/" + repo_id + "@" + commit); c != listings_.end())
        return std::shared_ptr<const MirrorRepo>(c->second);
    }
  }
  if (!commit.empty()) {
    auto stored = store_.GetHubListing(kname, repo_id, commit);
    if (stored.has_value() && stored->has_value()) {
      if (auto repo = RepoFromJson(kind, repo_id, **stored)) return Remember(key, repo, false);
    }
  }
  // Ask the upstream (one request for one key at a time; the others wait for its answer).
  return FetchOnce(kind, repo_id, revision, key);
}

Result<std::shared_ptr<const MirrorRepo>> MirrorImpl::FetchOnce(HubKind kind,
                                                                const std::string& repo_id,
                                                                const std::string& revision,
                                                                const std::string& key) {
  std::shared_ptr<ListingCall> call;
  bool mine = false;
  {
    MutexLock l(&mu_);
    auto& slot = calls_[key];
    if (!slot) {
      slot = std::make_shared<ListingCall>();
      mine = true;
    }
    call = slot;
  }
  if (!mine) {
    MutexLock l(&call->mu);
    call->cv.Wait(&call->mu, [&]() REQUIRES(call->mu) { return call->result.has_value(); });
    return *call->result;
  }
  auto result = FetchUpstream(kind, repo_id, revision, key);
  {
    MutexLock l(&mu_);
    calls_.erase(key);
  }
  MutexLock l(&call->mu);
  call->result = result;
  call->cv.SignalAll();
  return result;
}

Result<std::shared_ptr<const MirrorRepo>> MirrorImpl::FetchUpstream(HubKind kind,
                                                                    const std::string& repo_id,
                                                                    const std::string& revision,
                                                                    const std::string& key) {
  const std::string kname = KindName(kind);
  sources::HubRepoKind skind =
      kind == HubKind::kDataset ? sources::HubRepoKind::kDataset : sources::HubRepoKind::kModel;
  // A branch re-checked after its ttl that still names a commit seen before: that
  // commit's listing is not fetched again.
  auto listing = sources::FetchHubRevision(skind, repo_id, revision, Upstream());
  if (listing.has_value() && revision != listing->commit) {
    if (auto known = KnownListing(kind, repo_id, listing->commit)) {
      RecordRef(kname, repo_id, revision, listing->commit, key);
      return Remember(key, known, true);
    }
  }
  if (listing.has_value()) {
    if (Status s = sources::FetchHubTree(*listing, Upstream()); !s.ok()) listing = s;
  }
  {
    MutexLock l(&mu_);
    ++stats_.listings_fetched;
  }
  if (!listing.has_value()) {
    const Status& err = listing.error();
    const Status::Info* info = err.info();
    bool refused =
        info && info->reason == reason::kHubUpstream &&
        (err.code() == Status::Code::kNotFound || err.code() == Status::Code::kPermissionDenied);
    if (refused) {
      MutexLock l(&mu_);
      auto now = SteadyClock::now();
      if (negative_.size() >= kMaxRefs) {
        std::erase_if(negative_, [&](const auto& n) { return n.second.until <= now; });
        if (negative_.size() >= kMaxRefs) negative_.clear();
      }
      negative_[key] = {err, now + options_.negative_ttl};
      return err;
    }
    // The upstream is down or rate-limiting: what was seen before is still served.
    auto ref = sources::IsHubCommit(revision)
                   ? Result<std::optional<store::Store::HubRef>>(
                         std::optional<store::Store::HubRef>(store::Store::HubRef{revision, 0}))
                   : store_.GetHubRef(kname, repo_id, revision);
    if (ref.has_value() && ref->has_value()) {
      auto stored = store_.GetHubListing(kname, repo_id, (*ref)->commit);
      if (stored.has_value() && stored->has_value()) {
        if (auto repo = RepoFromJson(kind, repo_id, **stored)) {
          log::Warn("mirror: serving {} from the cache: {}", key, err.ToString());
          // For a while, the next requests are answered from the cache at once instead
          // of each waiting out the upstream's retries again.
          MutexLock l(&mu_);
          if (!sources::IsHubCommit(revision)) {
            refs_[key] = {repo->commit, SteadyClock::now() - options_.ref_ttl +
                                            std::min(options_.ref_ttl, options_.negative_ttl)};
          }
          listings_[kname + "/" + repo_id + "@" + repo->commit] = repo;
          return std::shared_ptr<const MirrorRepo>(repo);
        }
      }
    }
    // The Hub's own answers (429, 5xx) are passed on as they are; a failure to get one
    // says what is missing, keeping its reason (a time-out is a 504 to Hub clients).
    if (err.code() == Status::Code::kUnavailable &&
        !(info && info->reason == reason::kHubUpstream)) {
      const bool timed_out = info && info->reason == reason::kUpstreamTimeout;
      return err.WithContext("modeld mirror: the upstream " + options_.upstream +
                             (timed_out ? " did not answer in time" : " cannot be reached") +
                             " and " + repo_id + "@" + revision + " is not cached");
    }
    return err;
  }
  std::string text =
      ListingJson(*listing).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (Status s = store_.PutHubListing(kname, repo_id, listing->commit, text); !s.ok())
    log::Warn("mirror: could not record the listing of {}: {}", key, s.ToString());
  if (revision != listing->commit) RecordRef(kname, repo_id, revision, listing->commit, key);
  auto repo = RepoFromJson(kind, repo_id, text);
  if (!repo) return Status::Corrupt("modeld mirror: the listing of " + key + " does not read back");
  return Remember(key, repo, revision != listing->commit);
}

std::shared_ptr<const MirrorRepo> MirrorImpl::KnownListing(HubKind kind, const std::string& repo_id,
                                                           const std::string& commit) {
  const std::string kname = KindName(kind);
  {
    MutexLock l(&mu_);
    if (auto c = listings_.find(kname + "/" + repo_id + "@" + commit); c != listings_.end())
      return c->second;
  }
  auto stored = store_.GetHubListing(kname, repo_id, commit);
  if (stored.has_value() && stored->has_value()) return RepoFromJson(kind, repo_id, **stored);
  return nullptr;
}

void MirrorImpl::RecordRef(const std::string& kname, const std::string& repo_id,
                           const std::string& revision, const std::string& commit,
                           const std::string& key) {
  int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  if (Status s = store_.PutHubRef(kname, repo_id, revision, {commit, now_ms}); !s.ok())
    log::Warn("mirror: could not record the ref {}: {}", key, s.ToString());
}

std::shared_ptr<const MirrorRepo> MirrorImpl::Remember(const std::string& key,
                                                       std::shared_ptr<const MirrorRepo> repo,
                                                       bool is_ref) {
  MutexLock l(&mu_);
  auto now = SteadyClock::now();
  if (refs_.size() >= kMaxRefs) {
    std::erase_if(refs_, [&](const auto& r) { return now - r.second.checked >= options_.ref_ttl; });
    if (refs_.size() >= kMaxRefs) refs_.clear();
  }
  if (is_ref) refs_[key] = {repo->commit, now};
  if (listings_.size() >= kMaxListings) listings_.erase(listings_.begin());
  listings_[KindName(repo->kind) + "/" + repo->repo_id + "@" + repo->commit] = repo;
  return repo;
}

void MirrorImpl::ReapRunners() {
  for (auto it = runners_.begin(); it != runners_.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = runners_.erase(it);
    } else {
      ++it;
    }
  }
}

MirrorStats MirrorImpl::Stats() const {
  MutexLock l(&mu_);
  return stats_;
}

std::unique_ptr<HubMirror> ModelService::MakeHubMirror(const MirrorOptions& options) {
  return std::make_unique<MirrorImpl>(
      *store_, [this]() -> engine::Engine& { return engine(); }, options);
}

}  // namespace modeld::service