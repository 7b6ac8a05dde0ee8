// What a source hands the job manager: the files of one model version, each with where to
// fetch it, its size and its digest when the source knows them (DESIGN.md: Resolver ->
// Plan). A plan is plain data; ModelService executes it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/checksum.h"

namespace modeld::sources {

// A request to resolve: a model name and version, optionally pinned to a URL or a source.
struct SourceRequest {
  std::string name;
  std::string version = "latest";
  std::string url;                   // download_url: overrides any lookup
  std::string source;                // "", "default", "huggingface", "url", or a catalog's name
  std::optional<Checksum> checksum;  // for a direct URL
  std::vector<std::string> headers;  // for a direct URL (sent to its origin only)
  // Hub selection (the version may also name a revision or a GGUF quantization).
  std::vector<std::string> include, exclude;
  std::string quantization;
  std::string revision;
  bool verify_ssl = true;
};

struct PlannedFile {
  std::string path;  // inside the model, validated
  std::string url;
  std::optional<uint64_t> size;      // when known up front
  std::optional<Checksum> checksum;  // what the engine verifies (sha256, git-sha1, ...)
  std::string sha256;                // when known: a blob already stored is reused
  // Hub files: the snapshot they belong to, and the name of the Hub cache's blob.
  std::string hub_repo, hub_revision, hub_commit;
  std::string hub_path;  // in the repository (|path| may differ: a catalog renames)
  std::string hub_etag;
  std::vector<std::string> headers;  // sent to |url|'s origin only, never after a redirect
  bool operator==(const PlannedFile&) const = default;
};

struct Plan {
  std::string source;  // "url", "huggingface", or the catalog's name
  std::string description;
  std::vector<std::string> tags;
  nlohmann::json metadata = nlohmann::json::object();
  std::vector<PlannedFile> files;

  // The sum of the file sizes, or nullopt if any is unknown.
  std::optional<uint64_t> TotalSize() const {
    uint64_t total = 0;
    for (const auto& f : files) {
      if (!f.size) return std::nullopt;
      total += *f.size;
    }
    return total;
  }
};

}  // namespace modeld::sources
