#include "sources/catalog.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "core/json.h"
#include "core/names.h"
#include "core/text.h"
#include "net/fetch.h"
#include "net/http.h"

namespace modeld::sources {

extern const char* const kDefaultCatalogJson;  // default_catalog.cc, generated

namespace {

using nlohmann::json;

// Reads typed fields and records the first problem, naming where it is.
struct Reader {
  std::string where;
  Status error;
  bool Str(const json& j, const char* key, std::string* out, bool required = false) {
    if (!j.contains(key) || j[key].is_null()) {
      if (required) Fail(std::string("'") + key + "' is required");
      return !required;
    }
    if (!j[key].is_string()) return Fail(std::string("'") + key + "' must be a string");
    *out = j[key].get<std::string>();
    return true;
  }
  bool Strs(const json& j, const char* key, std::vector<std::string>* out) {
    if (!j.contains(key) || j[key].is_null()) return true;
    if (!j[key].is_array()) return Fail(std::string("'") + key + "' must be an array of strings");
    for (const auto& v : j[key]) {
      if (!v.is_string()) return Fail(std::string("'") + key + "' must be an array of strings");
      out->push_back(v.get<std::string>());
    }
    return true;
  }
  bool Check(const Status& s) { return s.ok() || Fail(s.message()); }
  bool Fail(const std::string& why) {
    if (error.ok()) error = Status::InvalidArgument(where + ": " + why);
    return false;
  }
};

bool ParseFile(const json& f, Reader& r, CatalogFile* out) {
  if (!f.is_object()) return r.Fail("a file must be an object");
  if (!r.Str(f, "url", &out->url, true) || !r.Str(f, "path", &out->path)) return false;
  if (net::UrlOrigin(out->url).empty()) return r.Fail("'" + out->url + "' is not an http(s) URL");
  if (out->path.empty()) out->path = net::UrlFileName(out->url);
  if (!r.Check(ValidateRelativePath(out->path))) return false;
  if (f.contains("size") && !f["size"].is_null()) {
    if (!f["size"].is_number_unsigned()) return r.Fail("'size' must be a byte count");
    out->size = f["size"].get<uint64_t>();
  }
  std::string sum, sha256;
  if (!r.Str(f, "checksum", &sum) || !r.Str(f, "sha256", &sha256)) return false;
  if (!sha256.empty()) sum = "sha256:" + sha256;
  if (!sum.empty()) {
    auto c = ParseChecksum(sum);
    if (!c.has_value()) return r.Fail(c.error().message());
    out->checksum = *c;
  }
  return true;
}

bool ParseVersion(const json& v, Reader& r, CatalogVersion* out) {
  if (!v.is_object()) return r.Fail("a version must be an object");
  if (!r.Str(v, "version", &out->version, true) || !r.Check(ValidateVersion(out->version))) {
    return false;
  }
  r.where += " version '" + out->version + "'";
  if (v.contains("huggingface")) {
    const json& h = v["huggingface"];
    if (!h.is_object()) return r.Fail("'huggingface' must be an object");
    CatalogHub hub;
    if (!r.Str(h, "repo", &hub.repo, true) || !r.Str(h, "revision", &hub.revision) ||
        !r.Strs(h, "include", &hub.include) || !r.Strs(h, "exclude", &hub.exclude) ||
        !r.Str(h, "quantization", &hub.quantization) || !r.Check(ValidateModelName(hub.repo))) {
      return false;
    }
    out->hub = std::move(hub);
    return true;
  }
  if (!v.contains("files") || !v["files"].is_array() || v["files"].empty()) {
    return r.Fail("needs 'files' (a non-empty array) or 'huggingface'");
  }
  for (const auto& f : v["files"]) {
    CatalogFile file;
    if (!ParseFile(f, r, &file)) return false;
    for (const auto& other : out->files) {
      if (other.path == file.path) return r.Fail("two files are named '" + file.path + "'");
    }
    out->files.push_back(std::move(file));
  }
  return true;
}

bool ParseModel(const json& m, Reader& r, CatalogModel* out) {
  if (!m.is_object()) return r.Fail("a model must be an object");
  if (!r.Str(m, "name", &out->name, true) || !r.Check(ValidateModelName(out->name))) return false;
  r.where += " model '" + out->name + "'";
  if (!r.Str(m, "description", &out->description) || !r.Strs(m, "tags", &out->tags) ||
      !r.Str(m, "latest", &out->latest)) {
    return false;
  }
  if (!m.contains("versions") || !m["versions"].is_array() || m["versions"].empty()) {
    return r.Fail("'versions' must be a non-empty array");
  }
  std::string where = r.where;
  for (const auto& v : m["versions"]) {
    CatalogVersion version;
    r.where = where;
    if (!ParseVersion(v, r, &version)) return false;
    out->versions.push_back(std::move(version));
  }
  r.where = where;
  if (out->latest.empty()) out->latest = out->versions.front().version;
  if (!out->Find(out->latest)) return r.Fail("'latest' names no version ('" + out->latest + "')");
  return true;
}

}  // namespace

const CatalogVersion* CatalogModel::Find(const std::string& version) const {
  const std::string& want = version == "latest" ? latest : version;
  for (const auto& v : versions) {
    if (v.version == want) return &v;
  }
  // Versions are matched case-insensitively too: "q4_k_m" finds "Q4_K_M".
  for (const auto& v : versions) {
    if (AsciiLower(v.version) == AsciiLower(want)) return &v;
  }
  return nullptr;
}

std::optional<uint64_t> CatalogModel::Size(const CatalogVersion& v) const {
  if (v.hub || v.files.empty()) return std::nullopt;
  uint64_t total = 0;
  for (const auto& f : v.files) {
    if (!f.size) return std::nullopt;
    total += *f.size;
  }
  return total;
}

json CatalogModel::ToJson(const std::string& source) const {
  json versions_json = json::array();
  for (const auto& v : versions) {
    json jv = {{"version", v.version}};
    if (auto size = Size(v)) jv["size"] = *size;
    if (v.hub) {
      jv["huggingface"] = {{"repo", v.hub->repo}, {"revision", v.hub->revision}};
      if (!v.hub->quantization.empty()) jv["huggingface"]["quantization"] = v.hub->quantization;
      if (!v.hub->include.empty()) jv["huggingface"]["include"] = v.hub->include;
      if (!v.hub->exclude.empty()) jv["huggingface"]["exclude"] = v.hub->exclude;
    } else {
      json files = json::array();
      for (const auto& f : v.files) {
        json jf = {{"path", f.path}, {"url", f.url}};
        if (f.size) jf["size"] = *f.size;
        if (f.checksum) jf["checksum"] = f.checksum->ToString();
        files.push_back(std::move(jf));
      }
      jv["files"] = std::move(files);
    }
    versions_json.push_back(std::move(jv));
  }
  return {{"name", name}, {"source", source}, {"description", description},
          {"tags", tags}, {"latest", latest}, {"versions", std::move(versions_json)}};
}

Result<Catalog> Catalog::Parse(const std::string& text, const std::string& name,
                               const std::string& origin) {
  json j = ParseJsonOrDiscarded(text);
  if (j.is_discarded() || !j.is_object()) {
    return Status::InvalidArgument("catalog " + origin + " is not a JSON object");
  }
  Catalog c;
  c.origin_ = origin;
  Reader r{"catalog " + origin, Status::OK()};
  if (!r.Str(j, "name", &c.name_)) return r.error;
  if (!name.empty()) c.name_ = name;
  if (c.name_.empty()) return Status::InvalidArgument("catalog " + origin + " has no 'name'");
  if (!ValidateVersion(c.name_).ok() || c.name_ == "huggingface" || c.name_ == "url") {
    return Status::InvalidArgument("catalog " + origin + ": '" + c.name_ +
                                   "' cannot be a source name (letters, digits, '.', '_', '-'; "
                                   "not 'huggingface' or 'url')");
  }
  if (!j.contains("models") || !j["models"].is_array()) {
    return Status::InvalidArgument("catalog " + origin + ": 'models' must be an array");
  }
  for (const auto& m : j["models"]) {
    CatalogModel model;
    r.where = "catalog " + origin;
    if (!ParseModel(m, r, &model)) return r.error;
    if (c.Find(model.name)) {
      return Status::InvalidArgument("catalog " + origin + ": model '" + model.name +
                                     "' is listed twice");
    }
    c.models_.push_back(std::move(model));
  }
  return c;
}

CatalogSpec CatalogSpec::Parse(const std::string& spec) {
  size_t eq = spec.find('=');
  if (eq != std::string::npos && spec.find('/') > eq)
    return {spec.substr(0, eq), spec.substr(eq + 1)};
  return {"", spec};
}

std::string CatalogSpec::ToString() const {
  // Unnamed, an '=' before any '/' would read as the end of a name: a leading '=' says none.
  if (name.empty()) return where.find('=') < where.find('/') ? "=" + where : where;
  return name + "=" + where;
}

Result<Catalog> Catalog::Load(const std::string& spec_text) {
  auto [name, where] = CatalogSpec::Parse(spec_text);
  std::string text;
  if (!net::UrlOrigin(where).empty()) {
    auto r =
        net::Fetch(where, {"Accept: application/json"}, std::chrono::seconds(30), true, 16 << 20);
    if (!r.has_value()) return r.error();
    if (r->status != 200) {
      return Status::Unavailable("catalog " + where + ": HTTP " + std::to_string(r->status));
    }
    text = std::move(r->body);
  } else {
    std::ifstream in(where, std::ios::binary);
    if (!in) return Status::NotFound("catalog " + where + " cannot be read");
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  return Parse(text, name, where);
}

const Catalog& Catalog::Default() {
  static const Catalog kDefault = [] {
    auto c = Parse(kDefaultCatalogJson, "default", "(built in)");
    return c.has_value() ? std::move(c.value()) : Catalog();
  }();
  return kDefault;
}

Catalog Catalog::FromModels(std::string name, std::string origin,
                            std::vector<CatalogModel> models) {
  Catalog c;
  c.name_ = std::move(name);
  c.origin_ = std::move(origin);
  for (auto& m : models) {
    if (c.Find(m.name) == nullptr) c.models_.push_back(std::move(m));
  }
  return c;
}

const CatalogModel* Catalog::Find(const std::string& model) const {
  for (const auto& m : models_) {
    if (m.name == model) return &m;
  }
  for (const auto& m : models_) {
    if (AsciiLower(m.name) == AsciiLower(model)) return &m;
  }
  return nullptr;
}

std::vector<const CatalogModel*> Catalog::Search(const std::string& text) const {
  std::vector<std::string> words;
  std::istringstream in(AsciiLower(text));
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<const CatalogModel*> out;
  for (const auto& m : models_) {
    std::string hay = AsciiLower(m.name + " " + m.description);
    for (const auto& t : m.tags) hay += " " + AsciiLower(t);
    for (const auto& v : m.versions) {
      if (v.hub) hay += " " + AsciiLower(v.hub->repo);
    }
    bool all = std::all_of(words.begin(), words.end(),
                           [&](const std::string& w) { return hay.find(w) != std::string::npos; });
    if (all) out.push_back(&m);
  }
  return out;
}

}  // namespace modeld::sources
