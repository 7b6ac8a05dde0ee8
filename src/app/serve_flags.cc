// `modeld serve`'s command line: its flags, each filling a field of ServeArgs.
#include <CLI/CLI.hpp>

#include "app/serve.h"

namespace modeld::app {

CLI::App* AddServeCommand(CLI::App& app, ServeArgs& args,
                          const std::map<std::string, double>& duration_units) {
  CLI::App* cmd = app.add_subcommand(
      "serve", "Run the HTTP server: the /model-download API with progress, over the store.");
  cmd->add_option("--listen", args.listen,
                  "ADDR:PORT[=DIALECT,...] to listen on, repeatable (default 127.0.0.1:8000; "
                  "[::1]:8000 for IPv6). With a dialect list the address speaks only those "
                  "APIs (generic, ...); without, every one")
      ->allow_extra_args(false);
  cmd->add_flag("--compat", args.compat,
                "also listen on each system's own port on 127.0.0.1 with its API only "
                "(Pieces 1000, LM Studio 1234, Jan 1337, Ollama 11434)");
  cmd->add_option("--token", args.token,
                  "require 'Authorization: Bearer TOKEN' on every request but GET /healthz "
                  "(default: $MODELD_TOKEN; --token-file keeps it off the command line)");
  cmd->add_option("--token-file", args.token_file,
                  "read the bearer token from the first line of this file")
      ->excludes("--token");
  cmd->add_option("--allowed-host", args.allowed_hosts,
                  "answer requests for this host name too (besides localhost and the "
                  "listen addresses), e.g. behind a reverse proxy; repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--allowed-origin", args.allowed_origins,
                  "let web pages from this origin (e.g. http://localhost:5173) use the API "
                  "and read its answers (CORS); repeatable. Other pages are refused")
      ->allow_extra_args(false);
  cmd->add_option("--max-connections", args.max_connections,
                  "open connections served at once; past it a connection is told 503 "
                  "(default: from the file descriptor limit, at most 10000)")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--io-threads", args.io_threads,
                  "threads answering HTTP, each with its own event loop (default: half the CPUs)")
      ->check(CLI::Range(0, 256));
  cmd->add_option("--max-downloads", args.max_downloads, "downloads running at once")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--max-rate", args.max_rate,
                  "bytes a second over all downloads, e.g. 20M, 800K (K = 1024; default: no "
                  "limit); change it live with `modeld limit RATE` or PATCH /settings")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--max-connections-per-host", args.max_connections_per_host,
                  "connections to one host at once, over all downloads (shared fairly)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--max-loaded-bytes", args.max_loaded_bytes,
                  "memory for loaded models (modeld load); the least recently used is "
                  "unloaded to make room, e.g. 8GiB, 512MiB (default: half the RAM)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--keep-alive", args.keep_alive,
                  "how long a loaded model stays loaded unused, when a load does not say: "
                  "5m, 1h, 300 (seconds), -1 for ever (default 5m)");
  cmd->add_option("--hub-upstream", args.hub_upstream,
                  "the Hub the mirror (GET /api/models/..., /{repo}/resolve/...) pulls "
                  "through from (default: $HF_ENDPOINT, else https://huggingface.co); "
                  "its token is $HF_TOKEN, sent to it only");
  cmd->add_option("--mirror-allow", args.mirror_allow,
                  "serve only repositories matching this glob (e.g. 'meta-llama/*'); repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--mirror-deny", args.mirror_deny,
                  "never serve repositories matching this glob; repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--mirror-max-file-size", args.mirror_max_file_size,
                  "the largest file the mirror fetches, e.g. 20GiB (default: no limit)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--mirror-client-token", args.mirror_client_tokens,
                  "a token (Authorization: Bearer) that may read gated or private "
                  "repositories through the mirror; repeatable (default: none may)")
      ->allow_extra_args(false);
  cmd->add_option("--mirror-ref-ttl", args.mirror_ref_ttl_s,
                  "how long a branch or tag's commit is trusted before the upstream is asked "
                  "again, e.g. 30s, 5m (default 60s)")
      ->transform(CLI::AsNumberWithUnit(duration_units))
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--mirror-lease-ttl", args.mirror_lease_ttl_s,
                  "instances sharing a registry: how long the one fetching a file may go "
                  "silent before another takes the file over, e.g. 10s (default 10s)")
      ->transform(CLI::AsNumberWithUnit(duration_units))
      ->check(CLI::PositiveNumber);
  cmd->add_option("--instance", args.instance,
                  "this instance's name in the registry's leases (default: the host "
                  "name); instances of one name share a host's file locks");
  cmd->add_option("--retry-for", args.retry_for_s,
                  "how long a download keeps retrying a failing connection before it fails, "
                  "for jobs that do not set options.retry_for, e.g. 90s, 5m (default 2m)")
      ->transform(CLI::AsNumberWithUnit(duration_units))
      ->check(CLI::NonNegativeNumber);
  return cmd;
}

}  // namespace modeld::app
