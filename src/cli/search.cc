#include "cli/search.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "core/fs.h"
#include "service/open.h"

namespace modeld::cli {

int RunSearch(const SearchArgs& args) {
  auto svc = service::OpenService(args.data_dir, args.catalogs);
  if (!svc.has_value()) {
    std::fprintf(stderr, "modeld search: %s\n", svc.error().message().c_str());
    return ExitCodeFor(svc.error());
  }
  std::string text;
  for (const auto& w : args.words) text += (text.empty() ? "" : " ") + w;
  auto listing = (*svc)->Search(text, args.source);
  nlohmann::json found = nlohmann::json::array();
  std::string out;
  for (const auto& m : listing.models) {
    if (args.json) {
      found.push_back(m.json);
      continue;
    }
    std::string versions;
    for (const auto& v : m.versions) {
      versions += (versions.empty() ? "" : ",") + v.version;
      if (v.size) versions += " (" + HumanBytes(*v.size) + ")";
    }
    char line[1024];
    std::snprintf(line, sizeof(line), "%-28s %-10s %-30s %s\n", m.name.c_str(), m.catalog.c_str(),
                  versions.c_str(), m.description.substr(0, 70).c_str());
    out += line;
  }
  if (!listing.source_known) {
    std::fprintf(stderr, "modeld search: no catalog is named '%s'\n", args.source.c_str());
    return kExitNotFound;
  }
  if (args.json) {
    std::printf("%s\n", nlohmann::json{{"models", found}}.dump(2).c_str());
    return kExitOk;
  }
  if (out.empty()) {
    std::fprintf(stderr,
                 "no model matches '%s'; Hugging Face repositories are pulled as org/name\n",
                 text.c_str());
    return kExitNotFound;
  }
  std::printf("%-28s %-10s %-30s %s\n%s", "NAME", "SOURCE", "VERSIONS", "DESCRIPTION", out.c_str());
  return kExitOk;
}

}  // namespace modeld::cli
