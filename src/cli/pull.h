// `modeld pull URL`: downloads one file with the engine, in this process.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace modeld::cli {

struct PullArgs {
  std::string url;
  std::string output;    // -o; default: the URL's file name in the current directory
  std::string checksum;  // --checksum algo:hex
  std::string sha256;    // --sha256 hex
  std::vector<std::string> headers;
  int connections = 16;
  int retries = 5;
  double timeout_s = 0;        // whole download; 0 = none
  double stall_timeout_s = 30;
  double connect_timeout_s = 30;
  bool no_verify_ssl = false;
  bool quiet = false;
  bool json = false;
};

// Runs the pull; returns the process exit code (cli/exit_codes.h).
int RunPull(const PullArgs& args);

}  // namespace modeld::cli
