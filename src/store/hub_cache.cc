#include "store/hub_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <system_error>

#include "core/checksum.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/names.h"
#include "store/file_ops.h"
#include "store/paths.h"

namespace modeld::store {

namespace fs = std::filesystem;

fs::path HubCache::RepoDir(const std::string& repo_id) const {
  std::string folder = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      folder += "--";
    } else {
      folder += c;
    }
  }
  return hf_cache_ / folder;
}

std::optional<fs::path> HubCache::FindBlob(const std::string& repo_id,
                                           const std::string& etag) const {
  if (etag.empty() || etag.find('/') != std::string::npos || etag.find("..") != std::string::npos) {
    return std::nullopt;
  }
  fs::path p = RepoDir(repo_id) / "blobs" / etag;
  std::error_code ec;
  if (fs::is_regular_file(p, ec)) {
    return p;
  }
  return std::nullopt;
}

Result<std::optional<StagedFile>> HubCache::Stage(const std::string& repo_id,
                                                  const std::string& etag,
                                                  const std::string& sha256, uint64_t size) const {
  auto found = FindBlob(repo_id, etag);
  if (!found) {
    return std::optional<StagedFile>();
  }
  return StageForeignFile(data_dir_, *found, size, sha256, sha256.empty() ? etag : "", ".hub");
}

std::vector<HubCache::CachedBlob> HubCache::ListBlobs() const {
  std::vector<CachedBlob> out;
  std::error_code ec;
  for (fs::directory_iterator repo(hf_cache_, ec), end; !ec && repo != end; repo.increment(ec)) {
    const std::string folder = repo->path().filename().string();
    if (folder.rfind("models--", 0) != 0) continue;
    std::string repo_id;  // models--org--name -> org/name
    for (size_t i = 8; i < folder.size(); ++i) {
      if (folder.compare(i, 2, "--") == 0) {
        repo_id += '/';
        ++i;
      } else {
        repo_id += folder[i];
      }
    }
    std::error_code blob_ec;
    for (fs::directory_iterator b(repo->path() / "blobs", blob_ec), bend; !blob_ec && b != bend;
         b.increment(blob_ec)) {
      struct stat st {};
      if (::lstat(b->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      out.push_back({b->path(), repo_id, static_cast<uint64_t>(st.st_size),
                     static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)});
    }
  }
  return out;
}

namespace {

// Removes the empty directories under (and including) |dir|, deepest first. Returns
// whether |dir| itself went.
bool PruneEmpty(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> children;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) children.push_back(it->path());
  }
  for (const auto& c : children) PruneEmpty(c);
  return fs::is_empty(dir, ec) && !ec && fs::remove(dir, ec);
}

}  // namespace

Status HubCache::RemoveBlob(const fs::path& blob) const {
  const fs::path target = blob.lexically_normal();
  const fs::path repo = target.parent_path().parent_path();
  const fs::path snapshots = repo / "snapshots";
  std::error_code ec;
  std::vector<fs::path> links;
  for (auto it = fs::recursive_directory_iterator(snapshots, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    std::error_code link_ec;
    if (!it->is_symlink(link_ec)) continue;
    fs::path to = fs::read_symlink(it->path(), link_ec);
    if (link_ec) continue;
    if (to.is_relative()) to = it->path().parent_path() / to;
    if (to.lexically_normal() == target) links.push_back(it->path());
  }
  for (const auto& l : links) ::unlink(l.c_str());
  if (::unlink(target.c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("remove " + target.string(), errno);
  }
  // Snapshots left empty go, and the refs that named them.
  std::vector<std::string> gone;
  for (fs::directory_iterator it(snapshots, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    if (it->is_directory(dir_ec) && PruneEmpty(it->path())) {
      gone.push_back(it->path().filename().string());
    }
  }
  if (!gone.empty()) {
    for (auto it = fs::recursive_directory_iterator(repo / "refs", ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      std::error_code ref_ec;
      if (!it->is_regular_file(ref_ec)) continue;
      std::ifstream in(it->path());
      std::string commit;
      std::getline(in, commit);
      if (std::find(gone.begin(), gone.end(), commit) != gone.end()) ::unlink(it->path().c_str());
    }
  }
  if (fs::is_empty(repo / "blobs", ec) && (!fs::exists(snapshots, ec) || PruneEmpty(snapshots))) {
    fs::remove_all(repo, ec);
  }
  return Status::OK();
}

Status HubCache::LinkSnapshot(const HubSnapshot& snap) const {
  if (Status s = ValidateModelName(snap.repo_id); !s.ok()) {
    return s;
  }
  for (const std::string* rev : {&snap.revision, &snap.commit}) {
    if (rev->empty() || rev->find('/') != std::string::npos ||
        rev->find("..") != std::string::npos) {
      return Status::InvalidArgument("bad revision '" + *rev + "'");
    }
  }
  fs::path repo = RepoDir(snap.repo_id);
  fs::path snapshot = repo / "snapshots" / snap.commit;
  for (const auto& d : {repo / "blobs", repo / "refs", snapshot}) {
    if (Status s = CreateDirs(d); !s.ok()) {
      return s;
    }
  }
  std::error_code ec;
  if (!fs::exists(hf_cache_ / "CACHEDIR.TAG", ec)) {
    (void)WriteFileAtomic(hf_cache_ / "CACHEDIR.TAG",
                          "Signature: 8a477f597d28d172789f06886806bc55\n");
  }
  for (const auto& f : snap.files) {
    if (Status s = ValidateRelativePath(f.path); !s.ok()) {
      return s;
    }
    if (f.etag.empty() || f.etag.find('/') != std::string::npos) {
      return Status::InvalidArgument("bad etag for " + f.path);
    }
    fs::path blob = repo / "blobs" / f.etag;
    const fs::path ours = BlobPath(data_dir_, f.sha256);
    if (NeedsRelink(blob, ours)) {
      fs::path tmp = repo / "blobs" / (f.etag + "." + RandomHex(8) + ".incomplete");
      if (Status s = LinkOrCopy(ours, tmp); !s.ok()) {
        return s;
      }
      if (::rename(tmp.c_str(), blob.c_str()) != 0) {
        ::unlink(tmp.c_str());
        return ErrnoStatus("rename into " + blob.string(), errno);
      }
    }
    fs::path link = snapshot / f.path;
    if (Status s = CreateDirs(link.parent_path()); !s.ok()) {
      return s;
    }
    if (Status s = ReplaceSymlink(fs::relative(blob, link.parent_path()), link); !s.ok()) {
      return s;
    }
  }
  if (snap.revision != snap.commit) {
    fs::path ref = repo / "refs" / snap.revision;
    if (Status s = WriteFileAtomic(ref, snap.commit); !s.ok()) {
      return s;
    }
  }
  return FsyncDir(repo / "blobs");
}

}  // namespace modeld::store
