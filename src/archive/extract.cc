#include "archive/extract.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>

#include "core/checksum.h"
#include "core/fs.h"
#include "core/names.h"

namespace modeld::archive {

namespace fs = std::filesystem;

namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Joins |base| segments with |rel|, resolving "." and ".."; false if ".." climbs above the
// root or |rel| is absolute.
bool Normalize(const std::vector<std::string>& base, const std::string& rel,
               std::vector<std::string>* out) {
  if (!rel.empty() && rel.front() == '/') return false;
  *out = base;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t slash = rel.find('/', pos);
    std::string seg = rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (seg == "..") {
      if (out->empty()) return false;
      out->pop_back();
    } else if (!seg.empty() && seg != ".") {
      out->push_back(seg);
    }
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return true;
}

std::string Join(const std::vector<std::string>& segs) {
  std::string s;
  for (const auto& seg : segs) s += (s.empty() ? "" : "/") + seg;
  return s;
}

struct ReadCloser {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

class Extractor {
 public:
  Extractor(const fs::path& archive, const fs::path& dest, const Limits& limits)
      : archive_(archive), dest_(dest), limits_(limits) {}

  Result<std::vector<ExtractedFile>> Run() {
    struct stat st {};
    if (::stat(archive_.c_str(), &st) != 0) return ErrnoStatus("stat " + archive_.string(), errno);
    archive_size_ = static_cast<uint64_t>(st.st_size);
    std::unique_ptr<struct archive, ReadCloser> a(archive_read_new());
    archive_read_support_filter_all(a.get());
    archive_read_support_format_zip(a.get());
    archive_read_support_format_tar(a.get());
    if (archive_read_open_filename(a.get(), archive_.c_str(), 1 << 16) != ARCHIVE_OK) {
      return Damaged(a.get());
    }
    std::error_code ec;
    fs::create_directories(dest_.parent_path(), ec);
    if (::mkdir(dest_.c_str(), 0755) != 0) return ErrnoStatus("mkdir " + dest_.string(), errno);
    for (;;) {
      struct archive_entry* entry = nullptr;
      int rc = archive_read_next_header(a.get(), &entry);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) return Damaged(a.get());
      if (++entries_ > limits_.max_entries) {
        return Status::InvalidArgument(Name() + " has more than " +
                                       std::to_string(limits_.max_entries) + " entries");
      }
      if (Status s = Entry(a.get(), entry); !s.ok()) return s;
    }
    return ResolveLinks();
  }

 private:
  std::string Name() const { return "archive '" + archive_.filename().string() + "'"; }

  Status Damaged(struct archive* a) const {
    const char* why = archive_error_string(a);
    return Status::Corrupt(Name() + " cannot be read: " + (why ? why : "unknown format"));
  }

  Status Refuse(const std::string& path, const std::string& why) const {
    std::string shown = path.substr(0, 200);
    for (char& c : shown) {
      if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
    }
    return Status::InvalidArgument(Name() + ": entry '" + shown + "' " + why + "; refused");
  }

  Status Entry(struct archive* a, struct archive_entry* entry) {
    const char* raw = archive_entry_pathname(entry);
    std::string name = raw ? raw : "";
    std::vector<std::string> segs;
    if (name.empty()) return Refuse(name, "has no name");
    if (name.front() == '/') return Refuse(name, "has an absolute path");
    for (size_t pos = 0;;) {  // any ".." at all is refused, even one that stays inside
      size_t slash = name.find('/', pos);
      if (name.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos) == "..") {
        return Refuse(name, "contains '..'");
      }
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    Normalize({}, name, &segs);
    std::string path = Join(segs);
    mode_t type = archive_entry_filetype(entry);
    if (type == AE_IFDIR) {
      if (path.empty()) return Status::OK();
      if (Status s = ValidateRelativePath(path); !s.ok()) {
        return Refuse(name, "has a bad name (" + s.message() + ")");
      }
      std::error_code ec;
      fs::create_directories(dest_ / path, ec);
      return ec ? Status::IoError("mkdir " + (dest_ / path).string() + ": " + ec.message())
                : Status::OK();
    }
    if (path.empty()) return Refuse(name, "has no name");
    if (Status s = ValidateRelativePath(path); !s.ok())
      return Refuse(name, "has a bad name (" + s.message() + ")");
    if (seen_.count(path)) return Refuse(name, "appears twice");
    for (size_t i = 1; i < segs.size(); ++i) {
      std::vector<std::string> prefix(segs.begin(), segs.begin() + static_cast<long>(i));
      if (seen_.count(Join(prefix)))
        return Refuse(name, "lies under a file or link of the archive");
    }
    seen_.insert(path);
    std::vector<std::string> parent(segs.begin(), segs.end() - 1);
    if (const char* hard = archive_entry_hardlink(entry)) {
      std::vector<std::string> target;
      if (!Normalize({}, hard, &target))
        return Refuse(name, "is a hard link leading outside the directory");
      links_.push_back({path, Join(target), name});
      return Status::OK();
    }
    if (type == AE_IFLNK) {
      const char* target_raw = archive_entry_symlink(entry);
      std::vector<std::string> target;
      if (!target_raw || !Normalize(parent, target_raw, &target)) {
        return Refuse(name, "is a symbolic link leading outside the directory");
      }
      links_.push_back({path, Join(target), name});
      return Status::OK();
    }
    if (type != AE_IFREG) return Refuse(name, "is a device, FIFO or socket");
    return WriteFile(a, name, path);
  }

  Status WriteFile(struct archive* a, const std::string& name, const std::string& path) {
    fs::path out = dest_ / path;
    std::error_code ec;
    fs::create_directories(out.parent_path(), ec);
    // Only directories and regular files are ever created here, so no component of
    // |out| can be a link: O_NOFOLLOW and O_EXCL are belt and braces.
    UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd.valid()) return ErrnoStatus("create " + out.string(), errno);
    Hasher hash(HashAlgorithm::kSha256);
    uint64_t size = 0;
    std::vector<char> buf(1 << 20);
    for (;;) {
      la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) return Damaged(a);
      size += static_cast<uint64_t>(n);
      total_ += static_cast<uint64_t>(n);
      if (total_ > limits_.max_total_bytes) {
        return Status::NoSpace(
            Name() + " expands to more than " + HumanBytes(limits_.max_total_bytes) + " (at '" +
            path + "'); refused as a decompression bomb or too large for the free space");
      }
      if (total_ > limits_.ratio_floor &&
          static_cast<double>(total_) >
              limits_.max_ratio * static_cast<double>(std::max<uint64_t>(archive_size_, 1))) {
        return Status::InvalidArgument(
            Name() + " expands more than " + std::to_string(static_cast<int>(limits_.max_ratio)) +
            " times its size (at '" + path + "'); refused as a decompression bomb");
      }
      hash.Update(buf.data(), static_cast<size_t>(n));
      if (Status s = PwriteAll(fd.get(), buf.data(), static_cast<size_t>(n),
                               size - static_cast<uint64_t>(n));
          !s.ok()) {
        return s.WithContext("write " + out.string());
      }
    }
    files_.push_back({path, size, hash.FinishHex(), out});
    return Status::OK();
  }

  // Links become further files sharing their target's bytes, if the target is a file of
  // the archive (following links up to 40 deep).
  Result<std::vector<ExtractedFile>> ResolveLinks() {
    std::map<std::string, size_t> by_path;
    for (size_t i = 0; i < files_.size(); ++i) by_path[files_[i].path] = i;
    std::map<std::string, std::string> link_target;
    for (const auto& l : links_) link_target[l.path] = l.target;
    for (const auto& l : links_) {
      std::string target = l.target;
      for (int hops = 0; hops < 40 && link_target.count(target); ++hops)
        target = link_target[target];
      auto it = by_path.find(target);
      if (it == by_path.end())
        return Refuse(l.name,
                      "is a link to '" + l.target + "', which is not a file in the archive");
      ExtractedFile f = files_[it->second];
      f.path = l.path;
      files_.push_back(std::move(f));
    }
    return std::move(files_);
  }

  struct Link {
    std::string path, target, name;
  };
  fs::path archive_, dest_;
  Limits limits_;
  uint64_t archive_size_ = 0, total_ = 0, entries_ = 0;
  std::set<std::string> seen_;  // every file and link path so far
  std::vector<ExtractedFile> files_;
  std::vector<Link> links_;
};

}  // namespace

bool IsArchive(const std::string& file_name) {
  std::string n = Lower(file_name);
  for (const char* ext : {".zip", ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz",
                          ".tar.bz2", ".tbz2"}) {
    if (EndsWith(n, ext)) return true;
  }
  return false;
}

Result<std::vector<ExtractedFile>> Extract(const fs::path& archive, const fs::path& dest,
                                           const Limits& limits) {
  std::error_code ec;
  if (fs::exists(dest, ec)) return Status::AlreadyExists(dest.string() + " already exists");
  Extractor x(archive, dest, limits);
  auto r = x.Run();
  if (!r.has_value()) {
    fs::remove_all(dest, ec);
  }
  return r;
}

}  // namespace modeld::archive
