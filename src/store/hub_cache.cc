#include "store/hub_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

Result<std::optional<HubCache::Staged>> HubCache::Stage(const std::string& repo_id,
                                                        const std::string& etag,
                                                        const std::string& sha256,
                                                        uint64_t size) const {
  const std::optional<Staged> none;
  auto found = FindBlob(repo_id, etag);
  if (!found) {
    return none;
  }
  struct stat st {};
  if (::stat(found->c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size) {
    return none;
  }
  // Hash it: a file in someone else's cache is trusted for nothing but its bytes.
  UniqueFd fd(::open(found->c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return none;
  }
  Hasher h(HashAlgorithm::kSha256);
  std::optional<Hasher> git;
  if (sha256.empty()) {
    git.emplace(HashAlgorithm::kGitSha1, size);
  }
  std::vector<char> buf(1 << 20);
  ssize_t n;
  while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0) {
    h.Update(buf.data(), static_cast<size_t>(n));
    if (git) {
      git->Update(buf.data(), static_cast<size_t>(n));
    }
  }
  std::string got = h.FinishHex();
  bool ok = n == 0 && (git ? git->FinishHex() == etag : got == sha256);
  if (!ok) {
    log::Warn("{} in the Hub cache does not match its digest; not reusing it", found->string());
    return none;
  }
  fs::path tmp = BlobTempPath(data_dir_, got, ".hub" + RandomHex(8));
  if (Status s = LinkOrCopy(*found, tmp); !s.ok()) {
    return s;
  }
  return std::optional<Staged>(Staged{tmp, got});
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
    if (!fs::exists(blob, ec)) {
      fs::path tmp = repo / "blobs" / (f.etag + "." + RandomHex(8) + ".incomplete");
      if (Status s = LinkOrCopy(BlobPath(data_dir_, f.sha256), tmp); !s.ok()) {
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
