// Ollama's own model directory (OLLAMA_MODELS, ~/.ollama/models), written from and read
// into the store's blobs, so an installed Ollama lists and runs what modeld pulled and
// modeld reuses what Ollama already has:
//
//   <dir>/manifests/<host>/<namespace>/<model>/<tag>   the registry's manifest, as received
//   <dir>/blobs/sha256-<hex>                           each blob (config included)
//
// Blobs are hard links to modeld's (one inode; copies only across file systems); every
// file appears by rename(), so Ollama never reads a half-written one. Ollama itself
// deletes blobs no manifest names at its start-up, which is why a model's blobs are linked
// before its manifest, and a removal deletes only blobs no other manifest names.
//
// Thread safety: an OllamaLayout is immutable; its methods are safe from any thread and
// take no lock (several processes may write one directory: renames and link() only).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/ollama.h"
#include "core/status.h"
#include "store/file_ops.h"

namespace modeld::store {

class OllamaLayout {
 public:
  // The Ollama directory |dir| (empty: none, and every method does nothing), over the
  // blobs of the data dir |data_dir|.
  OllamaLayout(std::filesystem::path dir, std::filesystem::path data_dir)
      : dir_(std::move(dir)), data_dir_(std::move(data_dir)) {}

  bool enabled() const { return !dir_.empty(); }
  const std::filesystem::path& dir() const { return dir_; }

  // manifests/<host>/<ns>/<model>/<tag>; InvalidArgument for a part that could leave the
  // directory ('/', a leading '.', empty). Pure.
  Result<std::filesystem::path> ManifestPath(const OllamaName& name) const;
  // blobs/sha256-<hex>. Pure. REQUIRES: |sha256| is 64 hex digits.
  std::filesystem::path BlobPath(const std::string& sha256) const;

  // Writes |name|: each blob of |blobs| (sha256 digests of blobs the store holds) linked as
  // blobs/sha256-<hex> unless already that file, then |manifest| (the registry's bytes).
  // Idempotent.
  Status Write(const OllamaName& name, const std::string& manifest,
               const std::vector<std::string>& blobs) const;

  // The blob |sha256| of Ollama's directory, made ready to adopt (StageForeignFile:
  // hashed first); nullopt when absent, another size, or other bytes.
  Result<std::optional<StagedFile>> Stage(const std::string& sha256, uint64_t size) const;

  // The manifest of |name| as Ollama stored it, if any (at most 4 MiB read).
  std::optional<std::string> ReadManifest(const OllamaName& name) const;

  // Every manifest under manifests/*/*/*/* (Ollama's own glob), with its name.
  struct Entry {
    OllamaName name;
    std::string manifest;
    std::filesystem::file_time_type modified;
  };
  std::vector<Entry> List() const;

  // Deletes |name|'s manifest (NotFound if there is none) and, of its blobs, those no
  // other manifest names; then the directories left empty under manifests/.
  Status Remove(const OllamaName& name) const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path data_dir_;
};

// The blob digests (hex) a manifest names, config first; empty if it does not parse.
std::vector<std::string> OllamaManifestBlobs(const std::string& manifest);

}  // namespace modeld::store
