// Archive entry checks without libarchive: archive::EntryChecker fed a list of entries
// straight from the input, so the fuzzer reaches every rule (a tar's header checksums
// keep most mutated archives from getting that far; archive_fuzz covers those).
//
// Input: entries, each a flags byte, then NAME '\0' LINK '\0'. Flags & 3 is the type
// (directory, file, symbolic link, other); flags & 4 makes LINK a hard link target;
// flags & 8 gives a symbolic link no target.
//
// Invariants (fuzz/archive_checks.h): no accepted name is absolute or has a '..'
// component; accepted paths pass ValidateRelativePath, files and links appear once and
// never under one another; link targets are normalised and stay inside; every link
// resolves to a file of the archive or the archive is refused.
#include <string>
#include <vector>

#include "archive_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using Type = modeld::archive::EntryChecker::Type;
  std::string_view in = fuzz::AsText(data, size);
  fuzz::ArchiveModel model;
  for (int n = 0; !in.empty() && n < 64; ++n) {
    unsigned flags = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    size_t end = in.find('\0');
    std::string name(in.substr(0, end));
    in.remove_prefix(end == in.npos ? in.size() : end + 1);
    end = in.find('\0');
    std::string link(in.substr(0, end));
    in.remove_prefix(end == in.npos ? in.size() : end + 1);

    modeld::archive::EntryChecker::Entry e;
    e.name = name;
    e.type = static_cast<Type>(flags & 3);
    if (flags & 4) e.hardlink = link.c_str();
    if (e.type == Type::kSymlink && !(flags & 8)) e.symlink = link.c_str();
    if (!model.Check(e)) return 0;  // Extract stops at the first refused entry
  }
  model.Finish();
  return 0;
}
