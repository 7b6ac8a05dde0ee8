#include "store/paths.h"

#include "core/checksum.h"

namespace modeld::store {

namespace fs = std::filesystem;

fs::path RegistryPath(const fs::path& data_dir) { return data_dir / "registry.sqlite"; }

std::vector<fs::path> DataSubdirs(const fs::path& data_dir) {
  return {BlobDir(data_dir),     ContentRoot(data_dir), ModelsRoot(data_dir),
          PartialRoot(data_dir), LockRoot(data_dir),    RemovingRoot(data_dir)};
}

fs::path BlobDir(const fs::path& data_dir) { return data_dir / "blobs" / "sha256"; }

fs::path BlobPath(const fs::path& data_dir, std::string_view sha256) {
  return BlobDir(data_dir) / sha256;
}

fs::path BlobTempPath(const fs::path& data_dir, std::string_view sha256, std::string_view suffix) {
  std::string name(sha256);
  name += suffix;
  return BlobDir(data_dir) / name;
}

fs::path ContentRoot(const fs::path& data_dir) { return data_dir / "content"; }

fs::path ContentDir(const fs::path& data_dir, std::string_view content_id) {
  return ContentRoot(data_dir) / content_id;
}

fs::path ModelsRoot(const fs::path& data_dir) { return data_dir / "models"; }

fs::path ModelPath(const fs::path& data_dir, const ModelRef& ref) {
  std::string p = data_dir.native();
  p.reserve(p.size() + ref.name.size() + ref.version.size() + 10);
  p += "/models/";
  p += ref.name;
  p += '/';
  p += ref.version;
  return fs::path(std::move(p));
}

fs::path ContentLinkTarget(const ModelRef& ref, std::string_view content_id) {
  std::string up = "../";  // out of models/
  for (char c : ref.name) {
    if (c == '/') {
      up += "../";
    }
  }
  up += "../";  // out of the last name segment
  return fs::path(up) / "content" / content_id;
}

std::string KeyDigest(std::string_view key) {
  return HashHex(HashAlgorithm::kSha256, key).substr(0, 32);
}

fs::path PartialRoot(const fs::path& data_dir) { return data_dir / "partial"; }

fs::path PartialDir(const fs::path& data_dir, std::string_view key) {
  return PartialRoot(data_dir) / KeyDigest(key);
}

fs::path LockRoot(const fs::path& data_dir) { return data_dir / "locks"; }

fs::path LockPath(const fs::path& data_dir, std::string_view key) {
  return LockPathForDigest(data_dir, KeyDigest(key));
}

fs::path LockPathForDigest(const fs::path& data_dir, std::string_view key_digest) {
  std::string name(key_digest);
  name += ".lock";
  return LockRoot(data_dir) / name;
}

fs::path RemovingRoot(const fs::path& data_dir) { return data_dir / "removing"; }

fs::path RemovalMarker(const fs::path& data_dir, std::string_view content_id) {
  return RemovingRoot(data_dir) / content_id;
}

}  // namespace modeld::store
