// Verification records (docs/store.md, "Verification records"): what a file was (its size,
// modification time, inode and device) when its bytes were last hashed, so that one stat()
// tells whether it may have changed since.
//
//   blobs table          one row per blob: may it be reused instead of downloaded?
//   files.mtime_ns/ino/dev  per installed file: is the model the one installed (ls, info)?
//
// A record is written only after the bytes were hashed and matched: a blob adopted from a
// verified download, a blob hashed again before its reuse, a file `verify` hashed. A stat
// that differs from the record means "hash it again before trusting it". A stat cannot see
// bytes that change under an unchanged size, mtime and inode (bit rot): `verify` can, and
// then forgets the record.
//
// The SQL functions run on the Db they are given and take no lock of their own: Store calls
// them with its mutex held, the writes inside its write transaction. The others touch only
// the file system.
//
// Thread safety: as the Db's for the SQL functions; the others are stateless.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "core/status.h"
#include "store/db.h"

namespace modeld::store {

// A file's identity as stat() gives it. ctime is left out: hard-linking a blob into a
// model (and chmod) changes it, and neither changes the bytes.
struct FileStamp {
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t ino = 0;
  uint64_t dev = 0;
  bool operator==(const FileStamp&) const = default;
  // True if this record names the file |live| (a stat() now): the same size, mtime and
  // inode, and device, but a record without one (dev 0: see RecordedStamp) matches any.
  bool Matches(const FileStamp& live) const {
    return size == live.size && mtime_ns == live.mtime_ns && ino == live.ino &&
           (dev == 0 || dev == live.dev);
  }
  // Same inode on the same device: one file under two names (a hard link).
  bool SameFile(const FileStamp& o) const { return ino == o.ino && dev == o.dev; }
};

// The stamp of |path| (symlinks followed), or nullopt if it is missing or not a regular file.
std::optional<FileStamp> StampOf(const std::filesystem::path& path);

// A file hashed, with its stamp: the same before and after reading it, so the digest is
// the bytes that stamp names.
struct HashedFile {
  std::string sha256;
  FileStamp stamp;
};
// Hashes |path| with SHA-256. NotFound if it is missing; Unavailable if it changed while it
// was read (its stamp moved); IoError if it cannot be read.
Result<HashedFile> HashFile(const std::filesystem::path& path);

// "|path|: missing", "|path|: size 3, want 5" or "|path|: changed since it was verified"
// (|recorded| does not match its stamp: FileStamp::Matches), as one stat() finds |file| (relative
// to the directory |dir_fd|, or AT_FDCWD) installed as |path|; "" when none. |stamp| receives the
// stat's stamp when the file is there.
std::string StatProblem(int dir_fd, const char* file, const std::string& path, uint64_t size,
                        const std::optional<FileStamp>& recorded,
                        std::optional<FileStamp>* stamp = nullptr);

// |stamp| as the registry |db| records it: whole for SQLite (one machine); without its device
// (dev 0) for PostgreSQL, whose registry machines share with the data dir on a shared file
// system: each numbers that mount its own way, while size, mtime and inode are the file
// system's own and the same for all.
FileStamp RecordedStamp(const Db& db, FileStamp stamp);

// The blobs table. Reads: mu_ held. Writes: inside a write transaction.
// The record of blob |sha256|, nullopt if it has none.
Result<std::optional<FileStamp>> BlobRecord(Db& db, const std::string& sha256);
// Records (or re-records) |stamp| (as RecordedStamp) as blob |sha256|'s, verified at |now|
// (seconds).
Status RecordBlob(Db& db, const std::string& sha256, const FileStamp& stamp, int64_t now);
// Forgets blob |sha256|'s record (no error when it has none).
Status ForgetBlobRecord(Db& db, const std::string& sha256);

// An installed file's stamp (as RecordedStamp), as columns of the files table (mtime_ns, ino,
// dev; the size is the file's own column). Inside a write transaction.
Status RecordFileStamp(Db& db, int64_t model_id, const std::string& path, const FileStamp& stamp);

// SQLite stores signed 64-bit integers: inode and device numbers go in as their bit pattern.
inline int64_t ToSql(uint64_t v) { return static_cast<int64_t>(v); }
inline uint64_t FromSql(int64_t v) { return static_cast<uint64_t>(v); }

}  // namespace modeld::store
