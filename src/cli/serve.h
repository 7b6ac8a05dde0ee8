// `modeld serve`: the HTTP server over the store, the job manager and the engine.
#pragma once

#include <string>
#include <vector>

namespace modeld::cli {

struct ServeArgs {
  std::vector<std::string> listen;  // default 127.0.0.1:8000
  std::string token;                // --token or $MODELD_TOKEN
  std::string data_dir;
  std::vector<std::string> catalogs;  // --catalog
  int max_downloads = 3;
  int io_threads = 0;  // 0: half the CPUs
  size_t body_limit = 1 << 20;
};

int RunServe(const ServeArgs& args);

}  // namespace modeld::cli
