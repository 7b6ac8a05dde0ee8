// `modeld serve`: composes the HTTP server (api/) and its dialects over the service and
// runs it until SIGINT or SIGTERM.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace CLI {
class App;
}  // namespace CLI

namespace modeld::app {

struct ServeArgs {
  std::vector<std::string> listen;           // "ADDR[=DIALECT,...]"; default 127.0.0.1:8000
  bool compat = false;                       // also each system's own port, with its dialect
  std::string token;                         // --token, --token-file or $MODELD_TOKEN
  std::string token_file;                    // --token-file
  std::vector<std::string> allowed_hosts;    // --allowed-host
  std::vector<std::string> allowed_origins;  // --allowed-origin
  std::string data_dir;
  std::vector<std::string> catalogs;  // --catalog
  std::string ollama_models;          // --ollama-models: Ollama's directory ("none": off)
  std::string ollama_registry;        // --ollama-registry: the registry for Ollama names
  int max_downloads = 3;
  double retry_for_s = -1;  // --retry-for: the jobs' default retry budget; -1: 2 min
  int max_connections = 0;  // 0: from the file descriptor limit
  int io_threads = 0;       // 0: half the CPUs
  size_t body_limit = 1 << 20;
  uint64_t max_loaded_bytes = 0;      // --max-loaded-bytes: loaded models' budget; 0: half the RAM
  std::string keep_alive;             // --keep-alive: loads' default keep_alive; "": 5m
  uint64_t max_rate = 0;              // --max-rate: bytes a second over all downloads; 0: none
  int max_connections_per_host = 16;  // --max-connections-per-host
  // The Hub mirror (the `hub` dialect, docs/mirror.md).
  std::string hub_upstream;                       // --hub-upstream; default HF_ENDPOINT or the Hub
  std::vector<std::string> mirror_allow;          // --mirror-allow GLOB
  std::vector<std::string> mirror_deny;           // --mirror-deny GLOB
  uint64_t mirror_max_file_size = 0;              // --mirror-max-file-size; 0: none
  std::vector<std::string> mirror_client_tokens;  // --mirror-client-token (gated repos)
  double mirror_ref_ttl_s = 60;                   // --mirror-ref-ttl
  double mirror_lease_ttl_s = 10;                 // --mirror-lease-ttl
  std::string instance;                           // --instance (default: the host name)
};

// Runs until SIGINT or SIGTERM. The bearer token is --token, else the first line of
// --token-file, else $MODELD_TOKEN; it is never logged.
int RunServe(ServeArgs args);

// Adds the `serve` command to |app|, its flags filling |args| (which must outlive the
// parse); |duration_units| are the units a duration flag takes (90s, 2m). The caller adds
// the help's footer. serve_flags.cc.
CLI::App* AddServeCommand(CLI::App& app, ServeArgs& args,
                          const std::map<std::string, double>& duration_units);

}  // namespace modeld::app
