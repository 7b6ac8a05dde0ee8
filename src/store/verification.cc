#include "store/verification.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/checksum.h"
#include "core/fs.h"

namespace modeld::store {

namespace fs = std::filesystem;

namespace {

FileStamp FromStat(const struct stat& st) {
  FileStamp s;
  s.size = static_cast<uint64_t>(st.st_size);
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  s.ino = static_cast<uint64_t>(st.st_ino);
  s.dev = static_cast<uint64_t>(st.st_dev);
  return s;
}

std::optional<FileStamp> StampAt(int dir_fd, const char* path) {
  struct stat st {};
  if (::fstatat(dir_fd, path, &st, 0) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  return FromStat(st);
}

}  // namespace

std::optional<FileStamp> StampOf(const fs::path& path) { return StampAt(AT_FDCWD, path.c_str()); }

Result<HashedFile> HashFile(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus("open " + path.string(), errno);
  struct stat before {
  }, after{};
  if (::fstat(fd.get(), &before) != 0) return ErrnoStatus("stat " + path.string(), errno);
  Hasher h(HashAlgorithm::kSha256);
  std::vector<char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + path.string(), errno);
    }
    h.Update(buf.data(), static_cast<size_t>(n));
  }
  if (::fstat(fd.get(), &after) != 0) return ErrnoStatus("stat " + path.string(), errno);
  HashedFile out{h.FinishHex(), FromStat(before)};
  if (!(FromStat(after) == out.stamp)) {
    return Status::Unavailable(path.string() + " changed while it was hashed");
  }
  return out;
}

std::string StatProblem(int dir_fd, const char* file, const std::string& path, uint64_t size,
                        const std::optional<FileStamp>& recorded, std::optional<FileStamp>* stamp) {
  auto now = StampAt(dir_fd, file);
  if (stamp) *stamp = now;
  if (!now) return path + ": missing";
  if (now->size != size) {
    return path + ": size " + std::to_string(now->size) + ", want " + std::to_string(size);
  }
  if (recorded && !recorded->Matches(*now)) return path + ": changed since it was verified";
  return "";
}

FileStamp RecordedStamp(const Db& db, FileStamp stamp) {
  if (db.engine() == Engine::kPostgres) stamp.dev = 0;
  return stamp;
}

Result<std::optional<FileStamp>> BlobRecord(Db& db, const std::string& sha256) {
  auto q = db.Prepare("SELECT size, mtime_ns, ino, dev FROM blobs WHERE sha256=?1");
  if (!q.has_value()) return q.error();
  auto row = q->Bind(1, sha256).Step();
  if (!row.has_value()) return row.error();
  if (!*row) return std::optional<FileStamp>();
  return std::optional<FileStamp>(
      FileStamp{FromSql(q->Int(0)), q->Int(1), FromSql(q->Int(2)), FromSql(q->Int(3))});
}

Status RecordBlob(Db& db, const std::string& sha256, const FileStamp& live, int64_t now) {
  const FileStamp stamp = RecordedStamp(db, live);
  auto q = db.Prepare(
      "INSERT INTO blobs(sha256, size, mtime_ns, ino, dev, verified_at) "
      "VALUES (?1,?2,?3,?4,?5,?6) ON CONFLICT(sha256) DO UPDATE SET size=excluded.size, "
      "mtime_ns=excluded.mtime_ns, ino=excluded.ino, dev=excluded.dev, "
      "verified_at=excluded.verified_at");
  if (!q.has_value()) return q.error();
  return q->Bind(1, sha256)
      .Bind(2, ToSql(stamp.size))
      .Bind(3, stamp.mtime_ns)
      .Bind(4, ToSql(stamp.ino))
      .Bind(5, ToSql(stamp.dev))
      .Bind(6, now)
      .Run();
}

Status ForgetBlobRecord(Db& db, const std::string& sha256) {
  auto q = db.Prepare("DELETE FROM blobs WHERE sha256=?1");
  if (!q.has_value()) return q.error();
  return q->Bind(1, sha256).Run();
}

Status RecordFileStamp(Db& db, int64_t model_id, const std::string& path, const FileStamp& live) {
  const FileStamp stamp = RecordedStamp(db, live);
  auto q = db.Prepare("UPDATE files SET mtime_ns=?3, ino=?4, dev=?5 WHERE model_id=?1 AND path=?2");
  if (!q.has_value()) return q.error();
  return q->Bind(1, model_id)
      .Bind(2, path)
      .Bind(3, stamp.mtime_ns)
      .Bind(4, ToSql(stamp.ino))
      .Bind(5, ToSql(stamp.dev))
      .Run();
}

}  // namespace modeld::store
