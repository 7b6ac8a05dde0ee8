// Jan's model.json as a catalog entry (issue 14; ../shared/dialects.md section 3.1): how Jan
// users describe a model ({"id", "object": "model", "name", "sources": [{"filename",
// "url"}], "settings", "parameters", "metadata", "engine", ...}). A model.json dropped into
// <data dir>/catalogs/ (Jan's own layout, <id>/model.json, or any *.json whose "object" is
// "model"), or posted to the Jan dialect's POST /models, is an entry of the catalog named
// "jan": its id the model's name, one version "latest", its sources the files.
//
// Thread safety: stateless functions; LoadJanFolder reads the disk.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "sources/catalog.h"

namespace modeld::sources {

// The catalog the model.json files form.
inline constexpr std::string_view kJanCatalogName = "jan";

// A model.json as a catalog entry: name = "id" (a valid model name, core/names.h), one
// version "latest" whose files are "sources" (each an http(s) "url", its path the
// "filename", else the URL's file name, a valid relative path, unique), description =
// "description" (else the display "name"), tags = "metadata.tags", and |jan| the object as
// given. "object", when present, must be "model". InvalidArgument naming |origin| and the
// field for anything else (not an object, no id, no sources, a wrong type).
Result<CatalogModel> JanModelFromJson(const nlohmann::json& j, const std::string& origin);
// The same from text (depth-bounded parsing, core/json.h).
Result<CatalogModel> ParseJanModel(std::string_view text, const std::string& origin);

// What a catalogs folder holds.
struct JanFolder {
  std::vector<CatalogModel> models;  // in path order; a later file with a known id is skipped
  std::vector<Status> problems;      // files that are not valid model.json (each named)
};
// Reads |dir|: every "model.json" in a subdirectory (up to 3 levels: an id "org/name" is
// saved as org/name/model.json) first, then the *.json files directly in |dir| whose
// "object" is "model" (other JSON files there are not model.json and are left alone).
// A missing folder holds nothing.
JanFolder LoadJanFolder(const std::filesystem::path& dir);
// A fingerprint of the files LoadJanFolder would read (paths, sizes, modification
// times): when it is unchanged, so is what the folder holds. "" for a missing or empty
// folder.
std::string JanFolderFingerprint(const std::filesystem::path& dir);

}  // namespace modeld::sources
