// `modeld search [TEXT]`: what can be pulled by name, from the default catalog and the
// configured ones (--catalog, <data dir>/config.json).
#pragma once

#include <string>
#include <vector>

namespace modeld::cli {

struct SearchArgs {
  std::vector<std::string> words;
  std::string source;  // only this catalog
  bool json = false;
  std::string data_dir;
  std::vector<std::string> catalogs;
};

int RunSearch(const SearchArgs& args);

}  // namespace modeld::cli
