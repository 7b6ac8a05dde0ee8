#include "store/ollama_layout.h"

#include <unistd.h>

#include <cerrno>
#include <set>
#include <system_error>

#include "core/fs.h"
#include "store/paths.h"

namespace modeld::store {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxManifestBytes = 4 << 20;

bool SafePart(const std::string& part) {
  return !part.empty() && part.front() != '.' && part.find('/') == std::string::npos &&
         part.find('\0') == std::string::npos;
}

std::optional<std::string> ReadSmall(const fs::path& path) {
  return ReadRegularFile(path, kMaxManifestBytes);
}

}  // namespace

std::vector<std::string> OllamaManifestBlobs(const std::string& manifest) {
  auto m = ParseOllamaManifest(manifest);
  if (!m.has_value()) return {};
  std::vector<std::string> out = {m->config.sha256};
  for (const auto& l : m->layers) out.push_back(l.sha256);
  return out;
}

Result<fs::path> OllamaLayout::ManifestPath(const OllamaName& name) const {
  for (const std::string* part : {&name.host, &name.ns, &name.model, &name.tag}) {
    if (!SafePart(*part)) {
      return Status::InvalidArgument("'" + name.Full() + "' cannot name a file of Ollama's");
    }
  }
  return dir_ / "manifests" / name.host / name.ns / name.model / name.tag;
}

fs::path OllamaLayout::BlobPath(const std::string& sha256) const {
  return dir_ / "blobs" / ("sha256-" + sha256);
}

Status OllamaLayout::Write(const OllamaName& name, const std::string& manifest,
                           const std::vector<std::string>& blobs) const {
  if (!enabled()) return Status::OK();
  auto path = ManifestPath(name);
  if (!path.has_value()) return path.error();
  if (Status s = CreateDirs(dir_ / "blobs"); !s.ok()) return s;
  for (const auto& sha : blobs) {
    if (sha.size() != 64) return Status::InvalidArgument("bad blob digest '" + sha + "'");
    const fs::path theirs = BlobPath(sha);
    const fs::path ours = store::BlobPath(data_dir_, sha);
    if (!NeedsRelink(theirs, ours)) continue;
    // A name Ollama's start-up prune leaves alone for an hour, and renamed at once.
    const fs::path tmp = dir_ / "blobs" / ("sha256-" + sha + "-partial-modeld" + RandomHex(8));
    if (Status s = LinkOrCopy(ours, tmp, /*symlink_ok=*/false); !s.ok()) return s;
    if (::rename(tmp.c_str(), theirs.c_str()) != 0) {
      const int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus("rename into " + theirs.string(), err);
    }
  }
  if (Status s = CreateDirs(path->parent_path()); !s.ok()) return s;
  return WriteFileAtomic(*path, manifest);
}

Result<std::optional<StagedFile>> OllamaLayout::Stage(const std::string& sha256,
                                                      uint64_t size) const {
  if (!enabled() || sha256.size() != 64) return std::optional<StagedFile>();
  return StageForeignFile(data_dir_, BlobPath(sha256), size, sha256, "", ".ollama");
}

std::optional<std::string> OllamaLayout::ReadManifest(const OllamaName& name) const {
  if (!enabled()) return std::nullopt;
  auto path = ManifestPath(name);
  if (!path.has_value()) return std::nullopt;
  return ReadSmall(*path);
}

std::vector<OllamaLayout::Entry> OllamaLayout::List() const {
  std::vector<Entry> out;
  if (!enabled()) return out;
  std::error_code ec;
  const fs::path root = dir_ / "manifests";
  // Real directories (and, last, files) whose names could be a name's part: not a
  // symlink, not a temporary file (".latest.tmp..."), nothing that leaves the directory.
  auto dirs = [](const fs::path& p) {
    std::vector<fs::path> v;
    std::error_code e;
    for (fs::directory_iterator it(p, e), end; !e && it != end; it.increment(e)) {
      std::error_code link_ec;
      if (it->is_symlink(link_ec) || !SafePart(it->path().filename().string())) continue;
      v.push_back(it->path());
    }
    return v;
  };
  for (const auto& host : dirs(root)) {
    for (const auto& ns : dirs(host)) {
      for (const auto& model : dirs(ns)) {
        for (const auto& tag : dirs(model)) {
          Entry e;
          e.name.host = host.filename().string();
          e.name.ns = ns.filename().string();
          e.name.model = model.filename().string();
          e.name.tag = tag.filename().string();
          auto bytes = ReadSmall(tag);
          if (!bytes) continue;
          e.manifest = std::move(*bytes);
          e.modified = fs::last_write_time(tag, ec);
          out.push_back(std::move(e));
        }
      }
    }
  }
  return out;
}

Status OllamaLayout::Remove(const OllamaName& name) const {
  if (!enabled()) return Status::NotFound("no Ollama directory");
  auto path = ManifestPath(name);
  if (!path.has_value()) return path.error();
  auto manifest = ReadSmall(*path);
  if (!manifest) return Status::NotFound("'" + name.Shortest() + "' is not in " + dir_.string());
  if (::unlink(path->c_str()) != 0 && errno != ENOENT) {
    return ErrnoStatus("remove " + path->string(), errno);
  }
  std::set<std::string> still;
  for (const auto& e : List()) {
    for (const auto& sha : OllamaManifestBlobs(e.manifest)) still.insert(sha);
  }
  for (const auto& sha : OllamaManifestBlobs(*manifest)) {
    if (!still.count(sha)) ::unlink(BlobPath(sha).c_str());
  }
  std::error_code ec;
  for (fs::path d = path->parent_path(); d != dir_ / "manifests" && d.has_parent_path();
       d = d.parent_path()) {
    if (!fs::is_empty(d, ec) || ec || !fs::remove(d, ec)) break;
  }
  return Status::OK();
}

}  // namespace modeld::store
