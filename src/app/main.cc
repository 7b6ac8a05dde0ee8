// modeld: the composition root. Parses the command line and runs a subcommand.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/exit_codes.h"
#include "cli/pull.h"
#include "core/log.h"

#ifndef MODELD_VERSION
#define MODELD_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace modeld;
  log::Init();
  CLI::App app{"modeld: a local model download server and CLI.\n"
               "Fetches large files over many connections, resumes after crashes, verifies "
               "every byte."};
  app.set_version_flag("--version", std::string("modeld ") + MODELD_VERSION);
  app.require_subcommand(1);
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();

  cli::PullArgs pull;
  auto* pull_cmd = app.add_subcommand(
      "pull",
      "Download URL to a file: segmented over several connections, resumable (run the same "
      "command again after an interruption), verified, and installed atomically.");
  pull_cmd->add_option("url", pull.url, "http(s) URL to download")->required();
  pull_cmd->add_option("-o,--output", pull.output,
                       "where to install the file (default: the URL's file name)");
  pull_cmd->add_option("--sha256", pull.sha256, "expected SHA-256 (hex); mismatch installs nothing");
  pull_cmd->add_option("--checksum", pull.checksum,
                       "expected checksum as sha256:HEX, sha512:HEX, sha1:HEX or md5:HEX")
      ->excludes("--sha256");
  pull_cmd->add_option("-c,--connections", pull.connections, "most connections to use (1-64)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  pull_cmd->add_option("--retries", pull.retries, "retries per connection after a failure")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  pull_cmd->add_option("--timeout", pull.timeout_s,
                       "give up if the whole download takes longer (seconds; 0 = never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  pull_cmd->add_option("--stall-timeout", pull.stall_timeout_s,
                       "reconnect when no byte arrives for this long (seconds)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  pull_cmd->add_option("--connect-timeout", pull.connect_timeout_s, "seconds to connect")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  pull_cmd->add_option("-H,--header", pull.headers,
                       "extra request header, e.g. 'Authorization: Bearer TOKEN' (sent only to "
                       "the URL's own host, never across a redirect)");
  pull_cmd->add_flag("--no-verify-ssl", pull.no_verify_ssl, "do not verify TLS certificates");
  pull_cmd->add_flag("-q,--quiet", pull.quiet, "no progress output");
  pull_cmd->add_flag("--json", pull.json, "print the result as one JSON object on stdout");
  pull_cmd->footer(
      "Exit codes: 0 ok, 1 internal error, 2 usage, 3 network, 4 not found, 5 checksum or "
      "size mismatch, 6 insufficient storage, 7 permission denied, 8 disk error, 9 another "
      "download of the file is running, 130 interrupted (partial kept).\n"
      "Proxies: http_proxy, https_proxy, no_proxy from the environment are honoured.");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : cli::kExitUsage;
  }
  log::SetLevel(log_level);
  if (pull_cmd->parsed()) return cli::RunPull(pull);
  return cli::kExitUsage;
}
