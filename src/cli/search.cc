#include "cli/search.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "cli/service_factory.h"
#include "core/fs.h"

namespace modeld::cli {

int RunSearch(const SearchArgs& args) {
  auto svc = OpenService(args.data_dir, args.catalogs);
  if (!svc.has_value()) {
    std::fprintf(stderr, "modeld search: %s\n", svc.error().message().c_str());
    return ExitCodeFor(svc.error());
  }
  std::string text;
  for (const auto& w : args.words) text += (text.empty() ? "" : " ") + w;
  nlohmann::json found = nlohmann::json::array();
  std::string out;
  bool known_source = args.source.empty();
  for (const auto* c : (*svc)->resolver().catalogs()) {
    if (!args.source.empty() && c->name() != args.source) continue;
    known_source = true;
    for (const auto* m : c->Search(text)) {
      if (args.json) {
        found.push_back(m->ToJson(c->name()));
        continue;
      }
      std::string versions;
      for (const auto& v : m->versions) {
        versions += (versions.empty() ? "" : ",") + v.version;
        if (auto size = m->Size(v)) versions += " (" + HumanBytes(*size) + ")";
      }
      char line[1024];
      std::snprintf(line, sizeof(line), "%-28s %-10s %-30s %s\n", m->name.c_str(), c->name().c_str(),
                    versions.c_str(), m->description.substr(0, 70).c_str());
      out += line;
    }
  }
  if (!known_source) {
    std::fprintf(stderr, "modeld search: no catalog is named '%s'\n", args.source.c_str());
    return kExitNotFound;
  }
  if (args.json) {
    std::printf("%s\n", nlohmann::json{{"models", found}}.dump(2).c_str());
    return kExitOk;
  }
  if (out.empty()) {
    std::fprintf(stderr, "no model matches '%s'; Hugging Face repositories are pulled as org/name\n", text.c_str());
    return kExitNotFound;
  }
  std::printf("%-28s %-10s %-30s %s\n%s", "NAME", "SOURCE", "VERSIONS", "DESCRIPTION", out.c_str());
  return kExitOk;
}

}  // namespace modeld::cli
