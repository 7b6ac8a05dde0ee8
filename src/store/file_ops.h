// The file-system steps the store's parts share: linking a blob somewhere (hard link, else
// symlink, else copy), swapping a symlink and writing a small file atomically, adopting a
// verified file into blobs/, and names no other process can pick.
//
// None of these touch the registry, so none needs Store's mutex; concurrent callers (and
// processes) are safe because each step ends in a rename() or fails on an existing name.
//
// Thread safety: stateless functions, safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"

namespace modeld::store {

// |n| lowercase hex digits from the kernel's entropy (getrandom), not a seeded PRNG, so
// forked or concurrent processes never pick the same name.
std::string RandomHex(size_t n);

// Creates |dir| and its parents. IoError (with the path) on failure.
Status CreateDirs(const std::filesystem::path& dir);

// Links |target| at |link|: a hard link, else (across file systems, or where hard links
// are refused) a symlink unless |symlink_ok| is false, else a copy. |link| must not exist.
// Hard links share the inode, which is why blobs are kept read-only. A directory another
// tool owns (Ollama's) gets no symlink: it would dangle once modeld's blob goes.
Status LinkOrCopy(const std::filesystem::path& target, const std::filesystem::path& link,
                  bool symlink_ok = true);

// The bytes of |path| if it is a regular file (symlinks are not followed) of at most
// |max_bytes|; nullopt otherwise. Reads through one descriptor: never more than |max_bytes|.
std::optional<std::string> ReadRegularFile(const std::filesystem::path& path, size_t max_bytes);

// Atomically points |link| at |target| (may be relative): a symlink under a temporary name
// beside it, rename() over |link|, fsync of the directory.
Status ReplaceSymlink(const std::filesystem::path& target, const std::filesystem::path& link);

// Writes |data| to |path| atomically: a temporary file beside it, fsync, rename().
Status WriteFileAtomic(const std::filesystem::path& path, const std::string& data);

// The bytes of the regular files under |dir| (0 if it cannot be read).
uint64_t TreeBytes(const std::filesystem::path& dir);
// The bytes deleting |path| (a file, or a directory and all under it) would give back:
// those of the regular files that are their inode's last link (symlinks not followed).
uint64_t UnsharedBytes(const std::filesystem::path& path);

// True if the blob |sha256| of |data_dir| exists and is |size| bytes.
bool HasBlob(const std::filesystem::path& data_dir, const std::string& sha256, uint64_t size);

// Moves |file| (on the same file system) into |data_dir|'s blobs under |sha256|, read-only.
// If that blob is already there it is kept and |file| deleted, unless |replace|: then
// |file| takes its place with one rename() (hard links to the old blob keep the old bytes).
// |moved| (when given) says whether |file| became the blob. InvalidArgument if |sha256| is
// not 64 characters. Which blob to keep is Store::AdoptBlob's decision (its verification
// record); this is only the file step. REQUIRES: |file| hashes to |sha256|.
Status AdoptBlob(const std::filesystem::path& data_dir, const std::filesystem::path& file,
                 const std::string& sha256, bool replace = false, bool* moved = nullptr);

// Whether |foreign| (another tool's name for one of our blobs: the Hub cache's, Ollama's)
// is to be (re)linked to our verified blob |ours|: it is missing; or, on ours' file
// system, it is another file than ours (the hard link a repair of ours left on the old,
// corrupt bytes, or a file someone changed); or, on another file system (where it was
// copied), its size differs.
bool NeedsRelink(const std::filesystem::path& foreign, const std::filesystem::path& ours);

// A file another tool's cache holds, made ready for the store to adopt instead of fetching
// it: if |file| is a regular file (a symlink is not followed) of |size| bytes that hashes
// to |sha256| (or, when |sha256| is empty, whose git blob id is |git_sha1|), the inode that
// was hashed is hard-linked (else copied, from the same descriptor) to a temporary name
// beside |data_dir|'s blobs (suffix |tag|), which the caller adopts (Store::AdoptBlob) or
// deletes. nullopt (not an error) when it is absent or does not match; an error only if
// linking failed. Reads the whole file.
struct StagedFile {
  std::filesystem::path path;  // the temporary name
  std::string sha256;          // its digest, as hashed
};
Result<std::optional<StagedFile>> StageForeignFile(const std::filesystem::path& data_dir,
                                                   const std::filesystem::path& file, uint64_t size,
                                                   const std::string& sha256,
                                                   const std::string& git_sha1,
                                                   const std::string& tag);

}  // namespace modeld::store
