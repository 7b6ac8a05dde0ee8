#include "sources/resolver.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <tuple>

#include "core/error_reasons.h"
#include "core/names.h"
#include "net/http.h"
#include "net/probe.h"

namespace modeld::sources {

namespace fs = std::filesystem;

namespace {

bool IsHex(const std::string& s, size_t len) {
  return s.size() == len &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

PlannedFile FromHubFile(const HubPlan& hp, const HubFile& f, const HubConfig& hub) {
  PlannedFile p;
  p.path = f.path;
  p.hub_repo = hp.repo_id;
  p.hub_revision = hp.revision;
  p.hub_commit = hp.commit;
  p.hub_path = f.path;
  p.url = f.url;
  p.size = f.size;
  p.sha256 = f.sha256;
  if (f.lfs()) {
    p.checksum = Checksum{HashAlgorithm::kSha256, f.sha256};
    p.hub_etag = f.sha256;
  } else if (!f.git_sha1.empty()) {
    p.checksum = Checksum{HashAlgorithm::kGitSha1, f.git_sha1};
    p.hub_etag = f.git_sha1;
  }
  // The engine sends it to the Hub's own origin only, never to the CDN a redirect leads to.
  if (!hub.token.empty()) p.headers.push_back("Authorization: Bearer " + hub.token);
  return p;
}

// The plan of a Hub selection. Its metadata records what was asked (the revision, the
// globs, the quantization) beside the commit found, so a later request can be told apart
// from this one without asking the Hub.
Plan FromHubPlan(const HubPlan& hp, const HubSelect& select, const HubConfig& hub) {
  Plan plan;
  plan.source = "huggingface";
  auto& h = plan.metadata["huggingface"];
  h = {{"repo", hp.repo_id}, {"revision", hp.revision}, {"commit", hp.commit}};
  if (!select.include.empty()) h["include"] = select.include;
  if (!select.exclude.empty()) h["exclude"] = select.exclude;
  if (!select.quantization.empty()) h["quantization"] = select.quantization;
  for (const auto& f : hp.files) plan.files.push_back(FromHubFile(hp, f, hub));
  return plan;
}

// A file name for a direct URL: Content-Disposition, else the URL's, else "model.bin".
std::string DirectFileName(const std::string& disposition, const std::string& url) {
  for (const std::string& name : {disposition, net::UrlFileName(url)}) {
    if (!name.empty() && name.find('/') == std::string::npos && ValidateRelativePath(name).ok()) {
      return name;
    }
  }
  return "model.bin";
}

}  // namespace

bool LooksLikeQuantization(const std::string& version) {
  static const std::regex kQuant("^(i?q[1-8](_[a-z0-9]+)*|f16|f32|bf16|fp16|fp32)$",
                                 std::regex::icase);
  return std::regex_match(version, kQuant);
}

Resolver::Resolver(ResolverConfig config) : config_(std::move(config)) {}

std::optional<HubReference> Resolver::HubFileLink(const std::string& url) const {
  auto ref = ParseHubReference(url);
  if (!ref || ref->file.empty() || net::UrlOrigin(url) != net::UrlOrigin(config_.hub.endpoint))
    return std::nullopt;
  return ref;
}

std::vector<const Catalog*> Resolver::catalogs() const {
  std::vector<const Catalog*> out = {&Catalog::Default()};
  for (const auto& c : config_.catalogs) out.push_back(&c);
  return out;
}

Result<Plan> Resolver::Resolve(const SourceRequest& req) const {
  if (!req.url.empty()) {
    // A link to one file on the Hub is a Hub pull of that file: verified, with the token.
    if (auto ref = HubFileLink(req.url)) {
      HubSelect select;
      select.include = {ExactGlob(ref->file)};
      auto plan = ResolveOnHub(ref->repo_id, ref->revision, select);
      if (plan.has_value()) plan->metadata["url"] = req.url;
      return plan;
    }
    return ResolveUrl(req);
  }
  const std::string& source = req.source;
  if (source == "url") return Status::InvalidArgument("source 'url' needs a download_url");
  if (source == "ollama") {
    // The name is an Ollama name as stored ("registry.ollama.ai/library/m", a port as
    // "_PORT": core/ollama.h) or as a user writes it ("llama3.2", "user/m"); the version
    // is its tag.
    const std::string tag = req.version.empty() ? "latest" : req.version;
    Result<OllamaName> name = Status::InvalidArgument("");
    if (auto stored = OllamaNameOf(ModelRef{req.name, tag})) {
      name = *stored;
    } else {
      name = ParseOllamaName(req.name.find(':') != std::string::npos ? req.name
                                                                     : req.name + ":" + tag);
    }
    if (!name.has_value()) return name.error();
    return ResolveOllama(*name, !req.verify_ssl, config_.ollama);
  }

  // The Hub: by source, by link (hf://, https://huggingface.co/...), or org/repo.
  auto hub_ref = ParseHubReference(req.name);
  bool hub_link = hub_ref && req.name.find(':') != std::string::npos;  // hf:// or https://
  if (source == "huggingface" || hub_link) {
    if (!hub_ref)
      return Status::InvalidArgument("'" + req.name +
                                     "' is not a Hugging Face repository (org/name)");
    HubSelect select{req.include, req.exclude, req.quantization};
    std::string revision = !req.revision.empty() ? req.revision
                           : hub_link            ? hub_ref->revision
                                                 : "main";
    if (!hub_ref->file.empty()) select.include.push_back(ExactGlob(hub_ref->file));
    // The version: a quantization (unless one is given) or else a revision.
    if (!hub_link && req.version != "latest" && !req.version.empty() && req.revision.empty()) {
      if (!LooksLikeQuantization(req.version)) {
        revision = req.version;
      } else if (select.quantization.empty()) {
        select.quantization = req.version;
      }
    }
    return ResolveOnHub(hub_ref->repo_id, revision, select);
  }

  std::vector<const Catalog*> searched;
  if (source.empty() || source == "default") {
    searched = catalogs();
  } else {
    for (const Catalog* c : catalogs()) {
      if (c->name() == source) searched.push_back(c);
    }
    if (searched.empty()) {
      std::string known = "default, huggingface, url";
      for (const auto& c : config_.catalogs) known += ", " + c.name();
      return Status::InvalidArgument("unknown source '" + source + "' (known: " + known + ")");
    }
  }
  for (const Catalog* c : searched) {
    if (const CatalogModel* m = c->Find(req.name)) return FromCatalog(*c, *m, req.version);
  }
  if ((source.empty() || source == "default") && hub_ref && hub_ref->file.empty()) {
    SourceRequest hub = req;
    hub.source = "huggingface";
    return Resolve(hub);
  }
  // The seed API's exact words (clients may match them); `modeld search` lists the names.
  return Status::NotFound("Model '" + req.name + "' not found in repository")
      .WithInfo({reason::kUnknownModel, {{"name", req.name}}});
}

Result<Plan> Resolver::ResolveUrl(const SourceRequest& req) const {
  if (net::UrlOrigin(req.url).empty()) {
    return Status::InvalidArgument("'" + req.url + "' is not an http(s) URL");
  }
  Plan plan;
  plan.source = "url";
  plan.metadata["url"] = req.url;
  if (req.checksum) plan.metadata["checksum"] = req.checksum->ToString();
  PlannedFile f;
  f.url = req.url;
  f.checksum = req.checksum;
  if (req.checksum && req.checksum->algorithm == HashAlgorithm::kSha256)
    f.sha256 = req.checksum->hex;
  f.headers = req.headers;
  // Learn the size and the server's file name first: a missing file is a NotFound now.
  auto probe = net::Probe(req.url, req.headers, req.verify_ssl, config_.probe_timeout);
  std::string disposition;
  if (probe.has_value()) {
    f.size = probe->size;
    disposition = probe->file_name;
  } else if (probe.error().code() == Status::Code::kNotFound) {
    return probe.error().WithContext("Model '" + req.name + "' not found");
  } else if (probe.error().code() == Status::Code::kPermissionDenied ||
             probe.error().code() == Status::Code::kInvalidArgument) {
    return probe.error();
  }  // otherwise the download itself retries
  f.path = DirectFileName(disposition, req.url);
  plan.files.push_back(std::move(f));
  return plan;
}

Result<Plan> Resolver::ResolveOnHub(const std::string& repo, const std::string& revision,
                                    const HubSelect& select) const {
  if (config_.hub.offline) return ResolveOffline(repo, revision, select);
  auto hp = ResolveHub(repo, revision, select, config_.hub);
  if (!hp.has_value()) return hp.error();
  return FromHubPlan(*hp, select, config_.hub);
}

// HF_HUB_OFFLINE: the snapshot the Hub cache holds for |revision| (refs/<revision>, or
// the commit itself), each file named by its blob (an etag: sha256 or git sha1).
Result<Plan> Resolver::ResolveOffline(const std::string& repo, const std::string& revision,
                                      const HubSelect& select) const {
  if (Status s = ValidateModelName(repo); !s.ok()) return s;
  std::string folder = "models--";
  for (char c : repo) folder += c == '/' ? std::string("--") : std::string(1, c);
  fs::path dir = config_.hub_cache / folder;
  std::string commit = revision;
  if (!IsHex(revision, 40)) {
    std::ifstream in(dir / "refs" / revision);
    if (!(in >> commit) || !IsHex(commit, 40)) {
      return Status::Unavailable("HF_HUB_OFFLINE is set and the Hub cache (" +
                                 config_.hub_cache.string() + ") has no snapshot of " + repo + "@" +
                                 revision);
    }
  }
  HubPlan hp;
  hp.repo_id = repo;
  hp.revision = revision;
  hp.commit = commit;
  std::error_code ec;
  fs::path snap = dir / "snapshots" / commit;
  for (auto it = fs::recursive_directory_iterator(snap, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_symlink(ec) && !it->is_regular_file(ec)) continue;
    if (it->is_directory(ec)) continue;
    HubFile f;
    f.path = it->path().lexically_relative(snap).generic_string();
    std::string etag =
        it->is_symlink(ec) ? fs::read_symlink(it->path(), ec).filename().string() : "";
    if (IsHex(etag, 64)) f.sha256 = etag;
    if (IsHex(etag, 40)) f.git_sha1 = etag;
    f.size = fs::file_size(it->path(), ec);
    if (ec || etag.empty() || !ValidateRelativePath(f.path).ok()) continue;
    hp.files.push_back(std::move(f));
  }
  if (hp.files.empty()) {
    return Status::Unavailable("HF_HUB_OFFLINE is set and the Hub cache has no files for " + repo +
                               "@" + revision);
  }
  auto selected = SelectHubFiles(std::move(hp), select);
  if (!selected.has_value()) return selected.error();
  Plan plan = FromHubPlan(*selected, select, config_.hub);
  for (auto& f : plan.files) f.url.clear();  // offline: the cache has them or nothing does
  return plan;
}

Result<Plan> Resolver::FromCatalog(const Catalog& catalog, const CatalogModel& model,
                                   const std::string& version) const {
  const CatalogVersion* v = model.Find(version);
  if (!v) {
    std::string known;
    for (const auto& cv : model.versions) known += (known.empty() ? "" : ", ") + cv.version;
    return Status::NotFound("Model '" + model.name + "' has no version '" + version + "' in the " +
                            catalog.name() + " catalog (versions: " + known + ")");
  }
  Plan plan;
  if (v->hub) {
    HubSelect select{v->hub->include, v->hub->exclude, v->hub->quantization};
    auto hub = ResolveOnHub(v->hub->repo, v->hub->revision, select);
    if (!hub.has_value()) return hub.error();
    plan = std::move(hub.value());
  } else {
    // Files that link to the Hub are fetched through it (its digest, HF_TOKEN, the Hub
    // cache): one listing per repository and revision, however many files it gives.
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> wanted;
    for (const auto& cf : v->files) {
      if (auto ref = HubFileLink(cf.url))
        wanted[{ref->repo_id, ref->revision}].push_back(ExactGlob(ref->file));
    }
    std::map<std::tuple<std::string, std::string, std::string>, PlannedFile>
        from_hub;  // repo, rev, path
    for (const auto& [repo_rev, globs] : wanted) {
      HubSelect select;
      select.include = globs;
      auto hub = ResolveOnHub(repo_rev.first, repo_rev.second, select);
      if (!hub.has_value()) return hub.error();
      for (auto& f : hub->files) {
        from_hub[{repo_rev.first, repo_rev.second, f.hub_path}] = f;
      }
    }
    for (const auto& cf : v->files) {
      PlannedFile f;
      if (auto ref = HubFileLink(cf.url)) {
        auto it = from_hub.find({ref->repo_id, ref->revision, ref->file});
        if (it == from_hub.end())
          return Status::NotFound("catalog " + catalog.name() + ": " + cf.url +
                                  " is not on the Hub");
        f = it->second;
        if (cf.checksum) f.checksum = cf.checksum;  // the catalog's own digest is the one verified
        if (cf.size && f.size && *cf.size != *f.size) {
          return Status::Corrupt("catalog " + catalog.name() + " says " + cf.path + " has " +
                                 std::to_string(*cf.size) + " bytes; the Hub says " +
                                 std::to_string(*f.size));
        }
      } else {
        f.url = cf.url;
        f.size = cf.size;
        f.checksum = cf.checksum;
      }
      f.path = cf.path;
      if (cf.checksum && cf.checksum->algorithm == HashAlgorithm::kSha256)
        f.sha256 = cf.checksum->hex;
      plan.files.push_back(std::move(f));
    }
  }
  plan.source = catalog.name();
  plan.description = model.description;
  plan.tags = model.tags;
  plan.metadata["catalog"] = {
      {"name", catalog.name()}, {"model", model.name}, {"version", v->version}};
  return plan;
}

}  // namespace modeld::sources
