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
#include <string>

#include "core/status.h"

namespace modeld::store {

// |n| lowercase hex digits from the kernel's entropy (getrandom), not a seeded PRNG, so
// forked or concurrent processes never pick the same name.
std::string RandomHex(size_t n);

// Creates |dir| and its parents. IoError (with the path) on failure.
Status CreateDirs(const std::filesystem::path& dir);

// Links |target| at |link|: a hard link, else (across file systems, or where hard links
// are refused) a symlink, else a copy. |link| must not exist. Hard links share the inode,
// which is why blobs are kept read-only.
Status LinkOrCopy(const std::filesystem::path& target, const std::filesystem::path& link);

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

}  // namespace modeld::store
