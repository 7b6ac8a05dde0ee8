// Catalog specs (--catalog NAME=PATH_OR_URL, config.json's "catalogs"):
// sources::CatalogSpec::Parse. service/open.cc prints a spec from config.json back with
// ToString before Catalog::Load parses it again.
//
// Invariants: the parts rebuild the spec; a name has no '=' and no '/'; and printing a
// parsed spec and parsing it again gives the same spec.
#include <string>

#include "fuzz_check.h"
#include "sources/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string text(fuzz::AsText(data, size));
  auto spec = sources::CatalogSpec::Parse(text);
  FUZZ_CHECK(spec.name.find('=') == std::string::npos && spec.name.find('/') == std::string::npos);
  FUZZ_CHECK(spec.where == text || spec.name + "=" + spec.where == text);
  auto again = sources::CatalogSpec::Parse(spec.ToString());
  FUZZ_CHECK(again.name == spec.name && again.where == spec.where);
  return 0;
}
