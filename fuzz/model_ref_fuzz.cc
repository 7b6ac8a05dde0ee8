// Model references and paths from requests, catalogs, Hub listings and archives:
// ParseModelRef, ValidateModelName, ValidateVersion and ValidateRelativePath.
//
// Invariants: an accepted reference has a valid name and version and prints and parses
// back to itself; a valid relative path is relative, already normal, and has no "..",
// "." or empty component, no backslash, NUL or control character, so joined to a
// directory it stays inside it.
#include <algorithm>
#include <cctype>
#include <filesystem>

#include "core/names.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view text = fuzz::AsText(data, size);

  auto ref = ParseModelRef(text);
  if (ref.has_value()) {
    FUZZ_CHECK(ValidateModelName(ref->name).ok());
    FUZZ_CHECK(ValidateVersion(ref->version).ok());
    FUZZ_CHECK(ref->name.find(':') == std::string::npos &&
               ref->version.find(':') == std::string::npos);
    auto again = ParseModelRef(ref->ToString());
    FUZZ_CHECK(again.has_value() && *again == *ref);
  } else {
    FUZZ_CHECK(ref.error().code() == Status::Code::kInvalidArgument);
  }
  if (ValidateModelName(text).ok()) {
    FUZZ_CHECK(text.size() <= 200 && text.find("..") != 0);
    FUZZ_CHECK(std::count(text.begin(), text.end(), '/') <= 3);
    auto r = ParseModelRef(std::string(text) + ":v1");
    FUZZ_CHECK(r.has_value() && r->name == text);
  }

  if (ValidateRelativePath(text).ok()) {
    FUZZ_CHECK(!text.empty() && text.size() <= 1024 && text.front() != '/');
    FUZZ_CHECK(std::none_of(text.begin(), text.end(), [](char c) {
      return c == '\0' || c == '\\' || std::iscntrl(static_cast<unsigned char>(c));
    }));
    std::filesystem::path p{std::string(text)};
    FUZZ_CHECK(p.is_relative());
    for (const auto& part : p) FUZZ_CHECK(part != ".." && part != "." && !part.empty());
    FUZZ_CHECK(p.lexically_normal() == p);
    auto inside = (std::filesystem::path("/data") / p).lexically_normal();
    FUZZ_CHECK(inside.string().rfind("/data/", 0) == 0);
  }
  return 0;
}
