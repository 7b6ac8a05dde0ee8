// Catalogs: JSON files listing models a user can pull by name (PEERS.md: what Ollama's
// library and LM Studio's catalog give their users), each version a list of files (a URL
// with its size and digest) or a Hugging Face selection. modeld ships a default catalog
// (catalog/default.json, compiled in); more come from --catalog PATH_OR_URL, each under
// its own source name. Format: docs/catalogs.md.
//
// Thread safety: a loaded Catalog is immutable; Load blocks for URLs.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/checksum.h"
#include "core/status.h"

namespace modeld::sources {

struct CatalogFile {
  std::string path;  // in the model; defaults to the URL's file name
  std::string url;
  std::optional<uint64_t> size;
  std::optional<Checksum> checksum;  // "sha256" or "checksum": "algo:hex"
};

struct CatalogHub {
  std::string repo;
  std::string revision = "main";
  std::vector<std::string> include, exclude;
  std::string quantization;
};

struct CatalogVersion {
  std::string version;
  std::vector<CatalogFile> files;  // either files...
  std::optional<CatalogHub> hub;   // ...or a Hub selection
};

struct CatalogModel {
  std::string name;
  std::string description;
  std::vector<std::string> tags;
  std::string latest;  // the version "latest" means
  std::vector<CatalogVersion> versions;
  // An entry from a Jan model.json (jan_model.h): the model.json as it was given, which
  // Jan's dialect shows; null for every other entry.
  nlohmann::json jan;

  // |version| may be "latest". nullptr if there is no such version.
  const CatalogVersion* Find(const std::string& version) const;
  std::optional<uint64_t> Size(const CatalogVersion& v) const;
  nlohmann::json ToJson(const std::string& source) const;
};

// A catalog spec split: "NAME=PATH_OR_URL" gives {NAME, PATH_OR_URL}; a plain "PATH" or
// "URL" (an '=' after the first '/' is part of it) gives {"", spec}.
struct CatalogSpec {
  std::string name;
  std::string where;
  static CatalogSpec Parse(const std::string& spec);
  // The spec Parse reads back as this one ("=a=b.json" for an unnamed "a=b.json").
  std::string ToString() const;
};

class Catalog {
 public:
  // |name| overrides the file's own "name" (which is required otherwise).
  // InvalidArgument naming the entry and field for anything malformed.
  static Result<Catalog> Parse(const std::string& text, const std::string& name,
                               const std::string& origin);
  // "PATH", "URL", "NAME=PATH" or "NAME=URL". NotFound/Unavailable when unreadable.
  static Result<Catalog> Load(const std::string& spec);
  // A catalog of |models| as they are (their names unique, case-insensitively: a later
  // one with a known name is dropped), named |name|.
  static Catalog FromModels(std::string name, std::string origin, std::vector<CatalogModel> models);
  // The catalog shipped with modeld, under the source name "default".
  static const Catalog& Default();

  const std::string& name() const { return name_; }
  const std::string& origin() const { return origin_; }
  const std::vector<CatalogModel>& models() const { return models_; }
  const CatalogModel* Find(const std::string& model) const;
  // Models whose name, description or tags contain every word of |text|
  // (case-insensitive); all of them for an empty text.
  std::vector<const CatalogModel*> Search(const std::string& text) const;

 private:
  std::string name_, origin_;
  std::vector<CatalogModel> models_;
};

}  // namespace modeld::sources
