#include "archive_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>

namespace modeld::testing {

std::string WriteArchive(const std::filesystem::path& out, const std::vector<ArchiveItem>& items,
                         const std::string& kind) {
  struct archive* a = archive_write_new();
  if (kind == "zip") {
    archive_write_set_format_zip(a);
  } else {
    archive_write_set_format_pax_restricted(a);
    if (kind == "tar.gz") archive_write_add_filter_gzip(a);
    if (kind == "tar.zst") archive_write_add_filter_zstd(a);
    if (kind == "tar.xz") archive_write_add_filter_xz(a);
  }
  std::string err;
  if (archive_write_open_filename(a, out.c_str()) != ARCHIVE_OK) err = archive_error_string(a);
  for (const auto& it : items) {
    if (!err.empty()) break;
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, it.path.c_str());
    archive_entry_set_perm(e, 0644);
    if (it.hardlink) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, it.link.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, it.type);
      if (it.type == AE_IFLNK) archive_entry_set_symlink(e, it.link.c_str());
      if (it.type == AE_IFCHR || it.type == AE_IFBLK) archive_entry_set_rdev(e, makedev(1, 3));
      archive_entry_set_size(e, it.type == AE_IFREG ? static_cast<la_int64_t>(it.data.size()) : 0);
    }
    if (archive_write_header(a, e) != ARCHIVE_OK) {
      err = archive_error_string(a);
    } else if (it.type == AE_IFREG && !it.hardlink && !it.data.empty() &&
               archive_write_data(a, it.data.data(), it.data.size()) !=
                   static_cast<la_ssize_t>(it.data.size())) {
      err = archive_error_string(a);
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return err;
}

std::string ArchiveBytes(const std::vector<ArchiveItem>& items, const std::string& kind) {
  auto path = std::filesystem::temp_directory_path() /
              ("modeld-archive-" + std::to_string(::getpid()) + "-" +
               std::to_string(reinterpret_cast<uintptr_t>(&items)));
  WriteArchive(path, items, kind);
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  std::filesystem::remove(path);
  return bytes;
}

}  // namespace modeld::testing
