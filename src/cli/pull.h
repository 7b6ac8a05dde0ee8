// `modeld pull URL`: downloads a model file. By default it goes into the store (a blob
// plus an installed model NAME:VERSION); with -o it is exported to a plain file instead.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace modeld::cli {

struct PullArgs {
  std::string url;
  std::string output;    // -o: export to this file, bypassing the store
  std::string name;      // --name NAME[:VERSION]; default from the URL's file name
  std::string data_dir;  // --data-dir
  bool force = false;
  std::string checksum;  // --checksum algo:hex
  std::string sha256;    // --sha256 hex
  std::vector<std::string> headers;
  int connections = 16;
  int retries = 5;
  double timeout_s = 0;  // whole download; 0 = none
  double stall_timeout_s = 30;
  double connect_timeout_s = 30;
  bool no_verify_ssl = false;
  bool quiet = false;
  bool json = false;
  bool local = false;  // never hand the pull to a running server
};

// Runs the pull; returns the process exit code (cli/exit_codes.h).
int RunPull(const PullArgs& args);

}  // namespace modeld::cli
