// Catalog files (--catalog PATH or URL, config.json catalogs): sources::Catalog::Parse.
//
// Invariants: an accepted catalog has a usable source name; every model has a valid,
// unique (case-insensitively) name and at least one version, and its "latest" exists;
// every version is valid and is either a Hub selection of a valid repository or a
// non-empty list of files with an http(s) URL, a unique valid relative path and a
// well-formed checksum; Search finds each model by its name; and the catalog, written
// back as JSON from each model's ToJson, parses to the same models.
#include <algorithm>
#include <cctype>
#include <set>
#include <string>

#include "core/checksum.h"
#include "core/names.h"
#include "fuzz_check.h"
#include "net/http.h"
#include "sources/catalog.h"

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using sources::Catalog;
  std::string text(fuzz::AsText(data, size));
  auto catalog = Catalog::Parse(text, "", "fuzz.json");
  if (!catalog.has_value()) {
    FUZZ_CHECK(catalog.error().code() == Status::Code::kInvalidArgument);
    return 0;
  }
  const Catalog& c = *catalog;
  FUZZ_CHECK(!c.name().empty() && ValidateVersion(c.name()).ok());
  FUZZ_CHECK(c.name() != "huggingface" && c.name() != "url");
  std::set<std::string> names;
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : c.models()) {
    FUZZ_CHECK(ValidateModelName(m.name).ok());
    FUZZ_CHECK(names.insert(Lower(m.name)).second);
    FUZZ_CHECK(c.Find(m.name) == &m);
    FUZZ_CHECK(!m.versions.empty());
    FUZZ_CHECK(m.Find("latest") != nullptr);
    for (const auto& v : m.versions) {
      FUZZ_CHECK(ValidateVersion(v.version).ok());
      FUZZ_CHECK(m.Find(v.version) != nullptr);
      if (v.hub) {
        FUZZ_CHECK(ValidateModelName(v.hub->repo).ok());
        continue;
      }
      FUZZ_CHECK(!v.files.empty());
      std::set<std::string> paths;
      for (const auto& f : v.files) {
        FUZZ_CHECK(!net::UrlOrigin(f.url).empty());
        FUZZ_CHECK(ValidateRelativePath(f.path).ok());
        FUZZ_CHECK(paths.insert(f.path).second);
        if (f.checksum) FUZZ_CHECK(f.checksum->hex.size() == HashHexLength(f.checksum->algorithm));
      }
    }
    auto found = c.Search(m.name);
    FUZZ_CHECK(std::find(found.begin(), found.end(), &m) != found.end());
    models.push_back(m.ToJson(c.name()));
  }

  // Written back and read again: the same models.
  nlohmann::json written = {{"name", c.name()}, {"models", models}};
  auto again = Catalog::Parse(written.dump(), "", "written.json");
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(again->name() == c.name());
  FUZZ_CHECK(again->models().size() == c.models().size());
  for (size_t i = 0; i < c.models().size(); ++i) {
    FUZZ_CHECK(again->models()[i].ToJson(c.name()) == models[i]);
  }
  return 0;
}
