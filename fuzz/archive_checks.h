// Invariants shared by archive_fuzz and archive_entry_fuzz: what an accepted archive
// entry may be, checked against the EntryChecker's answers.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "archive/extract.h"
#include "core/names.h"
#include "fuzz_check.h"

namespace modeld::fuzz {

inline bool HasDotDot(std::string_view path) {
  for (size_t pos = 0;;) {
    size_t slash = path.find('/', pos);
    if (path.substr(pos, slash == std::string_view::npos ? path.npos : slash - pos) == "..")
      return true;
    if (slash == std::string_view::npos) return false;
    pos = slash + 1;
  }
}

// Follows one archive through the checker, asserting every answer.
class ArchiveModel {
 public:
  using Entry = archive::EntryChecker::Entry;
  using Kind = archive::EntryChecker::Action::Kind;

  // The checker's answer for |e|, after asserting it; nullopt once the archive is refused.
  std::optional<Kind> Check(const Entry& e) {
    auto action = checker_.Check(e);
    if (!action.has_value()) {
      FUZZ_CHECK(action.error().code() == Status::Code::kInvalidArgument);
      return std::nullopt;
    }
    // Names that climb or start at the root are never accepted, whatever their type.
    FUZZ_CHECK(!e.name.empty() && e.name.front() != '/' && !HasDotDot(e.name));
    const std::string& path = action->path;
    if (action->kind == Kind::kSkip) {
      FUZZ_CHECK(e.type == archive::EntryChecker::Type::kDirectory && path.empty());
      return action->kind;
    }
    FUZZ_CHECK(ValidateRelativePath(path).ok());
    if (action->kind == Kind::kDirectory) {
      FUZZ_CHECK(e.type == archive::EntryChecker::Type::kDirectory);
      return action->kind;
    }
    // Files and links: each path once, and never under another file or link.
    FUZZ_CHECK(e.type != archive::EntryChecker::Type::kDirectory);
    FUZZ_CHECK(taken_.insert(path).second);
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      FUZZ_CHECK(!taken_.count(path.substr(0, slash)));
    }
    for (const auto& other : taken_) FUZZ_CHECK(other.rfind(path + "/", 0) != 0);
    if (action->kind == Kind::kLink) {
      FUZZ_CHECK(e.hardlink != nullptr || e.type == archive::EntryChecker::Type::kSymlink);
      FUZZ_CHECK(action->target.empty() || action->target.front() != '/');
      FUZZ_CHECK(!HasDotDot(action->target));
      links_.insert(path);
    } else {
      FUZZ_CHECK(action->kind == Kind::kFile);
      FUZZ_CHECK(e.type == archive::EntryChecker::Type::kFile && e.hardlink == nullptr);
      files_.insert(path);
    }
    return action->kind;
  }

  // After the last entry: every link resolves to a written file, or the archive is refused.
  void Finish() {
    auto links = checker_.ResolveLinks(files_);
    if (!links.has_value()) {
      FUZZ_CHECK(links.error().code() == Status::Code::kInvalidArgument);
      return;
    }
    FUZZ_CHECK(links->size() == links_.size());
    for (const auto& [link, target] : *links) {
      FUZZ_CHECK(links_.count(link));
      FUZZ_CHECK(files_.count(target));
    }
  }

 private:
  archive::EntryChecker checker_{"archive 'fuzz'"};
  std::set<std::string> taken_, files_, links_;
};

}  // namespace modeld::fuzz
