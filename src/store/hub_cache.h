// The Hugging Face Hub's cache layout (HF_HUB_CACHE), which transformers, huggingface_hub
// and llama.cpp read, written from and read into the store's blobs:
//
//   <hf_cache>/CACHEDIR.TAG
//   <hf_cache>/models--<org>--<name>/blobs/<etag>                  the file's bytes
//   <hf_cache>/models--<org>--<name>/snapshots/<commit>/<path>     -> ../../blobs/<etag>
//   <hf_cache>/models--<org>--<name>/refs/<revision>               the commit, as text
//
// An etag is the sha256 of an LFS file, else the git blob id (sha1) of the file.
//
// A blob linked from here shares its inode with the store's: Store::Remove and Store::Gc
// keep such a blob when no model uses it (deleting only the store's name frees nothing),
// or delete both with CleanupOptions::hf_cache (ListBlobs, RemoveBlob).
//
// Thread safety: a HubCache is immutable; its methods are safe from any thread and take
// no lock (they never touch the registry). Several processes may write one cache: every
// file appears by rename().
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/file_ops.h"

namespace modeld::store {

// A Hugging Face snapshot, for the Hub cache layout (models--org--name/...).
struct HubFile {
  std::string path;    // in the repository
  std::string etag;    // sha256 for LFS files, git blob sha1 otherwise
  std::string sha256;  // our blob
};
struct HubSnapshot {
  std::string repo_id;   // "org/name"
  std::string revision;  // "main", a tag, or the commit itself
  std::string commit;
  std::vector<HubFile> files;
};

class HubCache {
 public:
  // The Hub cache at |hf_cache|, over the blobs of the data dir |data_dir|.
  HubCache(std::filesystem::path hf_cache, std::filesystem::path data_dir)
      : hf_cache_(std::move(hf_cache)), data_dir_(std::move(data_dir)) {}

  // <hf_cache>/models--<org>--<name> ("/" becomes "--"). Pure: no syscalls.
  std::filesystem::path RepoDir(const std::string& repo_id) const;

  // A file already in the Hub cache, by its etag; nullopt if absent, or if |etag| could
  // name something outside the repository's blobs/ (a "/" or "..").
  std::optional<std::filesystem::path> FindBlob(const std::string& repo_id,
                                                const std::string& etag) const;

  // Writes |snap| into the Hub cache: blobs/<etag> (a hard link or copy of our blob, which
  // must be in the data dir), snapshots/<commit>/<path> (relative symlinks) and
  // refs/<revision> (unless the revision is the commit), and CACHEDIR.TAG. Idempotent.
  // InvalidArgument for a bad repo id, revision, commit, path or etag.
  Status LinkSnapshot(const HubSnapshot& snap) const;

  // A file the Hub cache holds, made ready for the store to adopt instead of fetching it:
  // if models--<repo>/blobs/<etag> exists, is |size| bytes and hashes to |sha256| (or, when
  // |sha256| is empty, to the git blob id |etag|), it is linked (or copied) to a temporary
  // name beside our blobs (BlobTempPath), which the caller adopts (Store::AdoptBlob, which
  // decides between it and a blob of ours) or deletes. nullopt (not an error) when it is
  // absent or does not match; an error only if linking it failed.
  Result<std::optional<StagedFile>> Stage(const std::string& repo_id, const std::string& etag,
                                          const std::string& sha256, uint64_t size) const;

  // A file of a repository's blobs/ directory, with its inode (a hard link to one of our
  // blobs shares it).
  struct CachedBlob {
    std::filesystem::path path;  // <hf_cache>/models--org--name/blobs/<etag>
    std::string repo_id;         // "org/name"
    uint64_t size = 0;
    uint64_t dev = 0, ino = 0;
  };
  // Every regular file in models--*/blobs/ (symlinks are not followed); empty when the
  // cache does not exist. Reads directories only: no file is opened.
  std::vector<CachedBlob> ListBlobs() const;

  // Deletes the Hub cache file |blob| (a CachedBlob's path) and what only pointed at it:
  // the snapshot symlinks to it, snapshot directories left empty, the refs naming a
  // snapshot that went, and the repository's directory when no blob and no snapshot is
  // left in it. IoError (or the errno's Status) when |blob| cannot be deleted.
  Status RemoveBlob(const std::filesystem::path& blob) const;

 private:
  std::filesystem::path hf_cache_;
  std::filesystem::path data_dir_;
};

}  // namespace modeld::store
