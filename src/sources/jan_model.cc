#include "sources/jan_model.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>

#include "core/json.h"
#include "core/names.h"
#include "net/http.h"

namespace modeld::sources {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Status Bad(const std::string& origin, const std::string& why) {
  return Status::InvalidArgument("model.json " + origin + ": " + why);
}

// The string at |key|: "" when absent or null; false (and |*error| set) when not a string.
bool OptionalString(const json& j, const char* key, std::string* out, const std::string& origin,
                    Status* error) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  if (!it->is_string()) {
    *error = Bad(origin, std::string("'") + key + "' must be a string");
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

bool ReadText(const fs::path& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

// The files LoadJanFolder reads, in the order it reads them.
std::vector<fs::path> Candidates(const fs::path& dir) {
  std::vector<fs::path> nested, top;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() >= 3) it.disable_recursion_pending();
    if (!it->is_regular_file(ec)) continue;
    const fs::path& p = it->path();
    if (it.depth() == 0) {
      if (p.extension() == ".json") top.push_back(p);
    } else if (p.filename() == "model.json") {
      nested.push_back(p);
    }
  }
  std::sort(nested.begin(), nested.end());
  std::sort(top.begin(), top.end());
  nested.insert(nested.end(), top.begin(), top.end());
  return nested;
}

}  // namespace

Result<CatalogModel> JanModelFromJson(const json& j, const std::string& origin) {
  if (!j.is_object()) return Bad(origin, "not a JSON object");
  Status error;
  std::string object, id, name, description;
  if (!OptionalString(j, "object", &object, origin, &error) ||
      !OptionalString(j, "id", &id, origin, &error) ||
      !OptionalString(j, "name", &name, origin, &error) ||
      !OptionalString(j, "description", &description, origin, &error)) {
    return error;
  }
  if (!object.empty() && object != "model") {
    return Bad(origin, "'object' is '" + object + "', not 'model'");
  }
  if (id.empty()) return Bad(origin, "'id' is required");
  if (Status s = ValidateModelName(id); !s.ok()) return Bad(origin, "'id': " + s.message());
  CatalogModel m;
  m.name = id;
  m.description = !description.empty() ? description : name;
  m.latest = "latest";
  if (auto meta = j.find("metadata"); meta != j.end() && !meta->is_null()) {
    if (!meta->is_object()) return Bad(origin, "'metadata' must be an object");
    if (auto tags = meta->find("tags"); tags != meta->end() && !tags->is_null()) {
      if (!tags->is_array()) return Bad(origin, "'metadata.tags' must be an array of strings");
      for (const auto& t : *tags) {
        if (!t.is_string()) return Bad(origin, "'metadata.tags' must be an array of strings");
        m.tags.push_back(t.get<std::string>());
      }
    }
  }
  auto sources = j.find("sources");
  if (sources == j.end() || !sources->is_array() || sources->empty()) {
    return Bad(origin, "'sources' must be a non-empty array of {\"filename\", \"url\"}");
  }
  CatalogVersion v;
  v.version = "latest";
  std::set<std::string> paths;
  for (size_t i = 0; i < sources->size(); ++i) {
    const json& s = (*sources)[i];
    const std::string at = "'sources[" + std::to_string(i) + "]";
    if (!s.is_object()) return Bad(origin, at + "' must be an object");
    CatalogFile f;
    if (!OptionalString(s, "url", &f.url, origin, &error) ||
        !OptionalString(s, "filename", &f.path, origin, &error)) {
      return error;
    }
    if (f.url.empty()) return Bad(origin, at + ".url' is required");
    if (net::UrlOrigin(f.url).empty()) {
      return Bad(origin, at + ".url' is not an http(s) URL: '" + f.url + "'");
    }
    if (f.path.empty()) f.path = net::UrlFileName(f.url);
    if (Status st = ValidateRelativePath(f.path); !st.ok()) {
      return Bad(origin, at + ".filename': " + st.message());
    }
    if (!paths.insert(f.path).second) {
      return Bad(origin, "two sources are named '" + f.path + "'");
    }
    v.files.push_back(std::move(f));
  }
  m.versions.push_back(std::move(v));
  m.jan = j;
  return m;
}

Result<CatalogModel> ParseJanModel(std::string_view text, const std::string& origin) {
  json j = ParseJsonOrDiscarded(text);
  if (j.is_discarded()) return Bad(origin, "not valid JSON (or nested too deeply)");
  return JanModelFromJson(j, origin);
}

JanFolder LoadJanFolder(const fs::path& dir) {
  JanFolder out;
  std::set<std::string> ids;  // case-insensitively, as Catalog::Find matches
  for (const auto& path : Candidates(dir)) {
    std::string text;
    if (!ReadText(path, &text)) {
      out.problems.push_back(Status::IoError("cannot read " + path.string()));
      continue;
    }
    json j = ParseJsonOrDiscarded(text);
    const bool top = path.parent_path() == dir;
    // Other JSON files beside the model.json files are not Jan's: left alone.
    if (top && (!j.is_object() || j.value("object", json()) != "model")) continue;
    auto m = top ? JanModelFromJson(j, path.string()) : ParseJanModel(text, path.string());
    if (!m.has_value()) {
      out.problems.push_back(m.error());
      continue;
    }
    std::string key = m->name;
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!ids.insert(key).second) {
      out.problems.push_back(Status::AlreadyExists("model.json " + path.string() + ": id '" +
                                                   m->name + "' is given by another file"));
      continue;
    }
    out.models.push_back(std::move(m.value()));
  }
  return out;
}

std::string JanFolderFingerprint(const fs::path& dir) {
  std::string out;
  for (const auto& path : Candidates(dir)) {
    std::error_code ec;
    auto size = fs::file_size(path, ec);
    if (ec) continue;
    auto mtime = fs::last_write_time(path, ec);
    if (ec) continue;
    out += path.string() + '\n' + std::to_string(size) + '\n' +
           std::to_string(mtime.time_since_epoch().count()) + '\n';
  }
  return out;
}

}  // namespace modeld::sources
