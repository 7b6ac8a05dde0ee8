// The memory commands: load, unload, ps (docs/cli.md). Through a running server over the
// same data dir (as pull: cli/server_client.h UseServer) they act on the server's loaded
// models and return at once. Without one a model is loaded only as long as the process that
// loaded it runs: a standalone `modeld load` holds the model until Ctrl-C or until it has
// been idle for its keep_alive, and unload and ps have nothing to act on.
#pragma once

#include <string>

namespace modeld::cli {

struct LoadArgs {
  std::string data_dir;
  std::string ref;         // NAME[:VERSION] (load, unload)
  bool mlock = false;      // load
  std::string keep_alive;  // load: "5m", "300", "-1", "0"; "": the server's default
  bool json = false;
  bool local = false;  // work in this process even if a server runs
};

int RunLoad(const LoadArgs& args);
int RunUnload(const LoadArgs& args);
int RunPs(const LoadArgs& args);

}  // namespace modeld::cli
