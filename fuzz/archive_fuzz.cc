// Whole archives (.zip, .tar, .tar.gz/.zst/.xz/.bz2) read from memory with the reader
// Extract uses (archive::NewArchiveReader), each entry through archive::EntryChecker and
// its data read and dropped: libarchive's parsing plus modeld's checks, no disk.
// Bounded: 256 entries, 4 MiB of data per input.
//
// Invariants: those of fuzz/archive_checks.h, and data is only read for accepted files.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "archive_checks.h"

namespace {

struct ReadFree {
  void operator()(struct archive* a) const { archive_read_free(a); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::unique_ptr<struct archive, ReadFree> a(modeld::archive::NewArchiveReader());
  if (archive_read_open_memory(a.get(), data, size) != ARCHIVE_OK) return 0;
  fuzz::ArchiveModel model;
  static std::vector<char> buf(64 << 10);
  size_t budget = 4 << 20;
  for (int n = 0; n < 256; ++n) {
    struct archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) {
      model.Finish();
      return 0;
    }
    if (rc < ARCHIVE_WARN) return 0;  // Extract: a damaged archive
    auto kind = model.Check(modeld::archive::EntryChecker::Entry::From(entry));
    if (!kind) return 0;  // Extract: refused
    if (*kind != fuzz::ArchiveModel::Kind::kFile) continue;
    for (;;) {
      la_ssize_t got = archive_read_data(a.get(), buf.data(), std::min(buf.size(), budget));
      if (got < 0) return 0;  // Extract: damaged
      if (got == 0) break;
      budget -= static_cast<size_t>(got);
      if (budget == 0) return 0;  // Extract: past its size limits
    }
  }
  return 0;  // Extract: too many entries
}
