// Jan's model.json as a catalog entry (sources::ParseJanModel, issue 14): what a file
// dropped into <data dir>/catalogs/ or a body posted to Jan's POST /models holds.
//
// Invariants: a refused model.json is InvalidArgument, never an exception; an accepted one
// has a valid model name (its id), one version "latest" that "latest" finds, a non-empty
// list of files each with an http(s) URL and a unique valid relative path, and keeps the
// model.json it came from (an object whose "id" is the name); a catalog of it finds it by
// name and by search, and it serialises.
#include <nlohmann/json.hpp>
#include <set>

#include "core/names.h"
#include "fuzz_check.h"
#include "net/http.h"
#include "sources/jan_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  auto m = sources::ParseJanModel(fuzz::AsText(data, size), "fuzz");
  if (!m.has_value()) {
    FUZZ_CHECK(m.error().code() == Status::Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(ValidateModelName(m->name).ok());
  FUZZ_CHECK(m->versions.size() == 1);
  const sources::CatalogVersion* v = m->Find("latest");
  FUZZ_CHECK(v != nullptr && !v->hub && !v->files.empty());
  std::set<std::string> paths;
  for (const auto& f : v->files) {
    FUZZ_CHECK(!net::UrlOrigin(f.url).empty());
    FUZZ_CHECK(ValidateRelativePath(f.path).ok());
    FUZZ_CHECK(paths.insert(f.path).second);
  }
  FUZZ_CHECK(m->jan.is_object() && m->jan["id"] == m->name);
  auto c = sources::Catalog::FromModels("jan", "fuzz", {*m});
  FUZZ_CHECK(c.Find(m->name) != nullptr);
  FUZZ_CHECK(!c.Search(m->name).empty());
  (void)m->ToJson("jan").dump();
  (void)m->jan.dump();
  return 0;
}
