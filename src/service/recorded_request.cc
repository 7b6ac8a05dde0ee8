#include "service/recorded_request.h"

#include <algorithm>
#include <cctype>

#include "core/redact.h"
#include "core/text.h"
#include "sources/resolver.h"

namespace modeld::service {

namespace {

using nlohmann::json;

const json& Field(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string Str(const json& object, const char* key) {
  const json& v = Field(object, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

std::vector<std::string> Strs(const json& object, const char* key) {
  std::vector<std::string> out;
  const json& v = Field(object, key);
  if (v.is_array()) {
    for (const auto& e : v) {
      if (e.is_string()) out.push_back(e.get<std::string>());
    }
  }
  return out;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::string Globs(const std::vector<std::string>& globs) {
  std::string out;
  for (const auto& g : globs) out += (out.empty() ? "" : " ") + g;
  return out.empty() ? "none" : out;
}

// The Hub selection a request makes, as the resolver reads it: the version of a name
// looked up on the Hub is a quantization (Q4_K_M) or else a revision, unless given.
struct HubWanted {
  std::string repo, revision, quantization;
  std::vector<std::string> include, exclude;
};

HubWanted WantedOf(const PullRequest& req) {
  const ModelRef& looked_up = req.lookup.name.empty() ? req.ref : req.lookup;
  HubWanted w{looked_up.name, req.revision, req.quantization, req.include, req.exclude};
  const std::string& v = looked_up.version;
  if (w.revision.empty() && !v.empty() && v != "latest") {
    if (!sources::LooksLikeQuantization(v)) {
      w.revision = v;
    } else if (w.quantization.empty()) {
      w.quantization = v;
    }
  }
  if (w.revision.empty()) w.revision = "main";
  return w;
}

bool PinsTheHub(const PullRequest& req) {
  return req.source == "huggingface" || !req.include.empty() || !req.exclude.empty() ||
         !req.quantization.empty() || !req.revision.empty();
}

// Where an installed model came from, for messages.
std::string Origin(const store::ModelInfo& installed) {
  std::string url = Str(installed.metadata, "url");
  if (!url.empty()) return RedactUrl(url);
  const json& cat = Field(installed.metadata, "catalog");
  if (cat.is_object()) return "the " + installed.source + " catalog's " + Str(cat, "model");
  const json& hub = Field(installed.metadata, "huggingface");
  if (hub.is_object()) return "the Hugging Face repository " + Str(hub, "repo");
  return installed.source.empty() ? "another source" : installed.source;
}

}  // namespace

std::string RequestDiffers(const PullRequest& req, const store::ModelInfo& installed) {
  const json& md = installed.metadata;
  if (!req.url.empty()) {
    std::string was = Str(md, "url");
    if (was != req.url) {
      return was.empty() ? "it was not pulled from " + RedactUrl(req.url)
                         : "it was pulled from " + RedactUrl(was);
    }
  }
  if (req.checksum) {
    std::string was = Str(md, "checksum");
    bool same = false;
    if (!was.empty()) {
      same = EqualsIgnoringCase(was, req.checksum->ToString());
    } else {
      // Pulled without one: a SHA-256 is known anyway, as the digest of its one file.
      same = req.checksum->algorithm == HashAlgorithm::kSha256 && installed.files.size() == 1 &&
             EqualsIgnoringCase(installed.files[0].sha256, req.checksum->hex);
    }
    if (!same) {
      return was.empty() ? "it was not pulled with checksum " + req.checksum->ToString()
                         : "it was pulled with checksum " + was;
    }
  }
  if (!req.url.empty()) return "";
  if (!req.source.empty() && req.source != "default" && req.source != installed.source) {
    return "it was pulled from " + Origin(installed);
  }
  const ModelRef& lookup = req.lookup;
  const json& cat = Field(md, "catalog");
  if (!lookup.name.empty() && cat.is_object()) {  // installed under another name from a catalog
    if (Str(cat, "model") != lookup.name ||
        (!lookup.version.empty() && lookup.version != "latest" &&
         Str(cat, "version") != lookup.version)) {
      return "it was pulled from " + Origin(installed) + " " + Str(cat, "version");
    }
    return "";
  }
  if (lookup.name.empty() && !PinsTheHub(req)) return "";
  const json& hub = Field(md, "huggingface");
  if (!hub.is_object()) return "it was pulled from " + Origin(installed);
  HubWanted want = WantedOf(req);
  std::string repo = Str(hub, "repo"), revision = Str(hub, "revision");
  if (revision.empty()) revision = "main";
  if (repo != want.repo) return "it was pulled from the Hub repository " + repo;
  if (revision != want.revision) return "it was pulled at revision " + revision;
  std::string quant = Str(hub, "quantization");
  if (!EqualsIgnoringCase(quant, want.quantization)) {
    return quant.empty() ? "it was pulled without a quantization"
                         : "it was pulled with quantization " + quant;
  }
  auto include = Strs(hub, "include"), exclude = Strs(hub, "exclude");
  if (Sorted(include) != Sorted(want.include)) {
    return "it was pulled with --include " + Globs(include);
  }
  if (Sorted(exclude) != Sorted(want.exclude)) {
    return "it was pulled with --exclude " + Globs(exclude);
  }
  return "";
}

bool SameTarget(const PullRequest& a, const PullRequest& b) {
  auto source = [](const PullRequest& r) { return r.source == "default" ? "" : r.source; };
  auto checksum = [](const PullRequest& r) {
    return r.checksum ? r.checksum->ToString() : std::string();
  };
  // By name alone: whatever is being pulled as that version, as an installed one is.
  if (b.url.empty() && !b.checksum && source(b).empty() && b.lookup.name.empty() &&
      !PinsTheHub(b)) {
    return true;
  }
  return a.url == b.url && checksum(a) == checksum(b) && source(a) == source(b) &&
         a.lookup == b.lookup && EqualsIgnoringCase(a.quantization, b.quantization) &&
         a.revision == b.revision && Sorted(a.include) == Sorted(b.include) &&
         Sorted(a.exclude) == Sorted(b.exclude);
}

PullRequest FromRecordedSource(const PullRequest& req, const store::ModelInfo& installed) {
  PullRequest out = req;
  if (!req.url.empty() || !req.source.empty() || PinsTheHub(req) || !req.lookup.name.empty())
    return out;
  const json& md = installed.metadata;
  if (std::string url = Str(md, "url"); !url.empty()) {
    out.url = url;  // a direct URL, or a link to one file on the Hub
    if (!out.checksum) {
      if (auto c = ParseChecksum(Str(md, "checksum")); c.has_value()) out.checksum = *c;
    }
    return out;
  }
  const json& cat = Field(md, "catalog");
  if (cat.is_object()) {  // by its catalog name, which may not be its own
    out.source = installed.source;
    out.lookup = {Str(cat, "model"), Str(cat, "version")};
    if (out.lookup.name.empty()) out.lookup = {};
    return out;
  }
  if (installed.source != "huggingface") return out;
  out.source = "huggingface";
  const json& hub = Field(md, "huggingface");
  if (!hub.is_object()) return out;
  // Its repository (under --name, not its own name) and selection, as it was pulled.
  if (std::string repo = Str(hub, "repo"); !repo.empty() && repo != req.ref.name) {
    out.lookup = {repo, "latest"};
  }
  out.revision = Str(hub, "revision");
  out.quantization = Str(hub, "quantization");
  out.include = Strs(hub, "include");
  out.exclude = Strs(hub, "exclude");
  return out;
}

}  // namespace modeld::service
