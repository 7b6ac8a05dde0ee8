// modeld: the composition root. Parses the command line and runs a subcommand.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "app/build_info.h"
#include "app/serve.h"
#include "cli/command_line.h"
#include "cli/exit_codes.h"
#include "cli/jobs.h"
#include "cli/limit.h"
#include "cli/load.h"
#include "cli/pull.h"
#include "cli/search.h"
#include "cli/store_commands.h"
#include "core/log.h"
#include "net/tls_trust.h"
#include "net/upstream_policy.h"

namespace {

// "modeld 0.1.0 (commit e1bfa0e, built 2025-01-31T12:00:00Z)": what --version and version say.
std::string VersionLine() {
  const auto& b = modeld::app::GetBuildInfo();
  return std::string("modeld ") + b.version + " (commit " + b.commit + ", built " + b.build_date +
         ")";
}

// The closing section of every --help: "Examples:" and one command a line.
std::string Examples(std::initializer_list<const char*> lines) {
  std::string out = "Examples:";
  for (const char* l : lines) out += std::string("\n  ") + l;
  return out;
}

// The environment variables modeld reads (each getenv in src/), for the top-level help.
constexpr const char* kEnvironment =
    "Environment:\n"
    "  MODELD_HOME      the data dir, where models live (--data-dir overrides it; default\n"
    "                   $XDG_DATA_HOME/modeld, else ~/.local/share/modeld)\n"
    "  MODELD_REGISTRY  the registry: a postgresql:// URL (--registry overrides it;\n"
    "                   default <data dir>/registry.sqlite)\n"
    "  MODELD_URL       the modeld server that pull, jobs and limit talk to (default\n"
    "                   http://127.0.0.1:8000; pull --local works without it)\n"
    "  MODELD_TOKEN     that server's bearer token; for serve, the token to require\n"
    "  MODELD_ALLOW_PRIVATE_UPSTREAMS=1  as --allow-private-upstreams\n"
    "  HF_TOKEN         a Hugging Face access token, for gated and private repositories\n"
    "                   (HUGGING_FACE_HUB_TOKEN is read too)\n"
    "  HF_ENDPOINT      the Hugging Face Hub to use (default https://huggingface.co)\n"
    "  HF_HUB_CACHE     the Hugging Face cache modeld links Hub files into and reuses\n"
    "                   (default $HF_HOME/hub, else ~/.cache/huggingface/hub)\n"
    "  HF_HOME          the Hugging Face home; HF_HUB_CACHE defaults to its hub/\n"
    "  HF_HUB_OFFLINE=1 Hub models from the Hugging Face cache only, no network\n"
    "  http_proxy, https_proxy, all_proxy, no_proxy  proxies for downloads\n"
    "  SSL_CERT_FILE, CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE  the CA bundle upstreams' TLS\n"
    "                   certificates are checked against, the first set (--ca-bundle wins)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace modeld;
  // A peer that closes a socket is an error to the writer (EPIPE), never a reason to die.
  signal(SIGPIPE, SIG_IGN);
  log::Init();
  CLI::App app{
      "modeld: a local model download server and CLI.\n"
      "Fetches large files over many connections, resumes after crashes, verifies "
      "every byte.",
      "modeld"};
  app.set_version_flag("-V,--version", VersionLine());
  app.require_subcommand(1);
  app.fallthrough();  // global options may follow the subcommand
  const std::string global = "Global options (before or after the command)";
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str()
      ->group(global);
  std::string data_dir;
  app.add_option("--data-dir", data_dir,
                 "where models live (default: $MODELD_HOME, else ~/.local/share/modeld)")
      ->group(global);
  std::string registry;
  app.add_option("--registry", registry,
                 "where the registry of models, files and jobs lives: a PostgreSQL URL, "
                 "postgresql://USER@HOST:PORT/DATABASE, so several modeld share one (with one "
                 "data dir on a shared file system); default: $MODELD_REGISTRY, else "
                 "<data dir>/registry.sqlite. A password is better in ~/.pgpass or "
                 "$PGPASSWORD than on a command line")
      ->group(global);
  std::vector<std::string> catalogs;
  app.add_option("--catalog", catalogs,
                 "another catalog of models to pull by name: PATH, URL or NAME=PATH_OR_URL, "
                 "repeatable (also the \"catalogs\" list in <data dir>/config.json)")
      ->allow_extra_args(false)
      ->group(global);

  std::string ollama_models, ollama_registry;
  app.add_option("--ollama-models", ollama_models,
                 "Ollama's model directory, where models pulled from an Ollama registry are "
                 "also written and whose blobs are reused (default: $OLLAMA_MODELS, else "
                 "~/.ollama/models when it exists and is writable; \"none\": off)")
      ->group(global);
  app.add_option("--ollama-registry", ollama_registry,
                 "the registry Ollama names resolve on (default: $OLLAMA_REGISTRY, else "
                 "https://registry.ollama.ai): a company mirror")
      ->group(global);

  bool allow_private_upstreams = false;
  app.add_flag("--allow-private-upstreams", allow_private_upstreams,
               "allow downloads from loopback, private, link-local, CGNAT and unique-local "
               "addresses, refused by default (also MODELD_ALLOW_PRIVATE_UPSTREAMS=1)")
      ->group(global);
  std::vector<std::string> allowed_upstreams;
  app.add_option("--allow-upstream", allowed_upstreams,
                 "allow this CIDR block, address or host name although it is private or "
                 "local, repeatable (e.g. 10.0.0.0/8, mirror.lan)")
      ->allow_extra_args(false)
      ->group(global);
  std::string ca_bundle;
  app.add_option("--ca-bundle", ca_bundle,
                 "check upstreams' TLS certificates against the CAs in this PEM file (or "
                 "directory of hashed certificates) instead of the system's: a company proxy "
                 "that inspects TLS, an internal mirror (default: $SSL_CERT_FILE, "
                 "$CURL_CA_BUNDLE, $REQUESTS_CA_BUNDLE, else the system's store)")
      ->group(global);
  app.footer(
      std::string(kEnvironment) +
      "\nRun 'modeld COMMAND --help' for a command's options; docs/cli.md has them all.\n\n" +
      Examples({"modeld pull Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M   # a Hub repository, "
                "one quantization",
                "modeld pull https://example.org/resnet50.pth --name resnet50:v1", "modeld ls",
                "modeld serve"}));

  cli::PullArgs pull;
  auto* pull_cmd = app.add_subcommand(
      "pull",
      "Download a model: segmented over several connections, resumable (run the same command "
      "again after an interruption), every file verified, installed atomically.");
  pull_cmd
      ->add_option(
          "model", pull.model,
          "a URL; a catalog model NAME[:VERSION] (see `modeld search`); or a Hugging "
          "Face repository org/name[:REVISION or :QUANT such as Q4_K_M], hf://org/name, "
          "hf://org/name/path/to/file or https://huggingface.co/org/name[/resolve/REV/FILE]")
      ->required();
  pull_cmd->add_option("-n,--name", pull.name,
                       "install as NAME[:VERSION] (default: a URL's file name; a Hub repository "
                       "as org/name with a version saying what was selected; version latest)");
  pull_cmd->add_option("--source", pull.source,
                       "where to look a name up: default, huggingface, or a catalog's name");
  // One value per flag (repeat the flag), so a glob never swallows the MODEL after it.
  pull_cmd
      ->add_option("--include", pull.include,
                   "Hub files to fetch, by glob (repeatable; default all)")
      ->allow_extra_args(false);
  pull_cmd->add_option("--exclude", pull.exclude, "Hub files to skip, by glob (repeatable)")
      ->allow_extra_args(false);
  pull_cmd->add_option("--revision", pull.revision, "Hub branch, tag or commit (default main)");
  pull_cmd->add_option("--quant", pull.quantization,
                       "GGUF quantization to fetch, e.g. Q4_K_M (split files included)");
  pull_cmd->add_flag("--no-extract", pull.no_extract,
                     "install .zip/.tar.* archives as they are, unextracted");
  pull_cmd->add_flag("--keep-archive", pull.keep_archive,
                     "keep an extracted archive in the model too");
  pull_cmd->add_flag("-f,--force", pull.force,
                     "download every file again and install it even if installed (a broken "
                     "installed model is repaired without it)");
  pull_cmd->add_option("-o,--output", pull.output,
                       "export a URL to this file instead of installing into the store; DIR/ "
                       "(or an existing directory) saves into it under the file's name");
  pull_cmd->add_option("--sha256", pull.sha256,
                       "expected SHA-256 (hex); mismatch installs nothing");
  pull_cmd
      ->add_option("--checksum", pull.checksum,
                   "expected checksum as sha256:HEX, sha512:HEX, sha1:HEX or md5:HEX")
      ->excludes("--sha256");
  pull_cmd->add_option("-c,--connections", pull.connections, "most connections to use (1-64)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  pull_cmd
      ->add_option("--max-rate", pull.max_rate,
                   "at most this many bytes a second, all files together, e.g. 10M, 500K "
                   "(K = 1024); change it while it runs with `modeld limit RATE --job ID`")
      ->transform(CLI::AsSizeValue(false));
  // Seconds, or with a unit: 90s, 2m, 1h.
  const std::map<std::string, double> duration_units = {
      {"ms", 0.001}, {"s", 1}, {"m", 60}, {"min", 60}, {"h", 3600}};
  pull_cmd
      ->add_option("--retry-for", pull.retry_for_s,
                   "keep retrying a failing connection this long before giving up, e.g. 90s, "
                   "5m, 0 for no retries (default 2m; waits grow to 15 s between tries)")
      ->transform(CLI::AsNumberWithUnit(duration_units))
      ->check(CLI::NonNegativeNumber);
  pull_cmd
      ->add_option("--retries", pull.retries,
                   "also give up after this many retries in a row (default: no count, only "
                   "--retry-for)")
      ->check(CLI::Range(0, 100));
  pull_cmd
      ->add_option("--timeout", pull.timeout_s,
                   "give up if the whole download takes longer (seconds; 0 = never)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  pull_cmd
      ->add_option("--stall-timeout", pull.stall_timeout_s,
                   "reconnect when no byte arrives for this long (seconds)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  pull_cmd->add_option("--connect-timeout", pull.connect_timeout_s, "seconds to connect")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  pull_cmd
      ->add_option("-H,--header", pull.headers,
                   "extra request header, e.g. 'Authorization: Bearer TOKEN' (sent only to "
                   "the URL's own host, never across a redirect)")
      ->allow_extra_args(false);
  pull_cmd->add_flag("--no-verify-ssl", pull.no_verify_ssl, "do not verify TLS certificates");
  pull_cmd->add_flag("-q,--quiet", pull.quiet, "no progress output");
  pull_cmd->add_flag("--json", pull.json, "print the result as one JSON object on stdout");
  pull_cmd->add_flag("--local", pull.local,
                     "download in this process even if a modeld server is running (by default a "
                     "server at $MODELD_URL, else 127.0.0.1:8000, does the download if it uses "
                     "the same data directory)");
  pull_cmd->footer(
      std::string(
          "Exit codes: 0 ok, 1 internal error, 2 usage, 3 network, 4 not found, 5 checksum or "
          "size mismatch, 6 insufficient storage, 7 permission denied, 8 disk error, 9 another "
          "download of the file is running, 130 interrupted (partial kept). A model already "
          "installed as asked is success (exit 0; --force fetches it again). The installed "
          "path is printed on stdout.\n"
          "Proxies: http_proxy, https_proxy, no_proxy from the environment are honoured.\n\n") +
      Examples({"modeld pull Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M",
                "modeld pull hf://org/name --include '*.json' --include '*.safetensors'",
                "modeld pull hf://org/name/config.json       # one file of a repository",
                "modeld pull whisper-base.en                  # a catalog model (modeld search)",
                "modeld pull https://example.org/resnet50.pth --sha256 HEX --name resnet50:v1",
                "modeld pull https://example.org/file.bin -o downloads/   # a plain download"}));

  app::ServeArgs serve;
  auto* serve_cmd = app::AddServeCommand(app, serve, duration_units);
  serve_cmd->footer(
      Examples({"modeld serve", "modeld serve --listen 0.0.0.0:8000 --token-file /etc/modeld/token",
                "modeld serve --compat --allowed-origin http://localhost:5173",
                "modeld serve --max-loaded-bytes 16GiB --keep-alive 30m"}));

  cli::SearchArgs search;
  auto* search_cmd = app.add_subcommand(
      "search", "List the models the catalogs offer by name, matching every word of TEXT.");
  search_cmd->add_option("text", search.words,
                         "words to find in names, descriptions and tags (default: list all)");
  search_cmd->add_option("--source", search.source, "only this catalog");
  search_cmd->add_flag("--json", search.json, "print JSON");
  search_cmd->footer(Examples({"modeld search", "modeld search whisper", "modeld search --json"}));

  cli::StoreArgs st;
  auto add_json = [&](CLI::App* c) { c->add_flag("--json", st.json, "print JSON"); };
  auto* ls_cmd = app.add_subcommand(
      "ls",
      "List installed models. Each file is checked without reading it: there, its size, and "
      "the same file as installed or last verified (size, mtime, inode); a model that fails, "
      "or that a full verify found broken, is listed broken. `modeld verify` reads every "
      "byte.");
  ls_cmd->alias("list");
  add_json(ls_cmd);
  ls_cmd->footer(Examples({"modeld ls", "modeld list --json"}));
  auto* info_cmd = app.add_subcommand(
      "info",
      "Show a model: NAME:VERSION, or NAME for all versions, its files checked as ls does; a "
      "broken one says what is wrong and how to repair it.");
  info_cmd->add_option("ref", st.ref, "NAME[:VERSION]")->required();
  add_json(info_cmd);
  info_cmd->footer(Examples({"modeld info resnet50:v1", "modeld info resnet50      # every version",
                             "modeld info Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M --json"}));
  auto* rm_cmd = app.add_subcommand(
      "rm",
      "Remove NAME:VERSION (or every version of NAME), freeing files no other model uses, and "
      "say how much it freed. A file the Hugging Face cache links too (a Hub model's) frees "
      "nothing when removed here: it is kept, and said so, unless --hf-cache.");
  rm_cmd->add_option("ref", st.ref, "NAME[:VERSION]")->required();
  rm_cmd->add_flag("--hf-cache", st.hf_cache,
                   "also delete the Hugging Face cache's links to the files removed (its "
                   "blobs and snapshot entries), so that their bytes go");
  add_json(rm_cmd);
  rm_cmd->footer(Examples({"modeld rm resnet50:v1", "modeld rm resnet50        # every version",
                           "modeld rm Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M --hf-cache"}));
  auto* verify_cmd = app.add_subcommand(
      "verify",
      "Hash every byte of every installed file against its SHA-256 and record what is found; "
      "a broken model is listed with what is wrong and how to repair it (modeld pull "
      "NAME:VERSION fetches again what is missing or changed). Exit 5 if any is broken.");
  verify_cmd->add_option("ref", st.ref, "NAME:VERSION (default: every model)");
  verify_cmd->add_flag("--quick", st.quick, "check as ls does, reading no byte");
  add_json(verify_cmd);
  verify_cmd->footer(
      Examples({"modeld verify", "modeld verify resnet50:v1", "modeld verify --quick"}));
  auto* gc_cmd = app.add_subcommand(
      "gc",
      "Delete files no model uses, orphaned directories and stale partial downloads, and say "
      "how much it freed. Files the Hugging Face cache links too are kept (removing them here "
      "would free nothing) unless --hf-cache.");
  gc_cmd
      ->add_option("--partials-older-than", st.partial_age_h,
                   "remove unused partial downloads older than this many hours")
      ->capture_default_str();
  gc_cmd->add_flag("--dry-run", st.dry_run, "say what would be removed and freed; remove nothing");
  gc_cmd->add_flag("--hf-cache", st.hf_cache,
                   "also delete the Hugging Face cache's links to the files no model uses, so "
                   "that their bytes go");
  add_json(gc_cmd);
  gc_cmd->footer(Examples({"modeld gc --dry-run", "modeld gc", "modeld gc --hf-cache",
                           "modeld gc --partials-older-than 0   # every unused partial download"}));
  auto* cache_cmd = app.add_subcommand(
      "cache",
      "Show disk use: models, blobs, partials, free space, and the Hugging Face cache's "
      "repositories holding modeld's files (hard links: the same bytes).");
  add_json(cache_cmd);
  cache_cmd->footer(Examples({"modeld cache", "modeld cache --json"}));

  cli::JobsArgs jobs;
  auto* jobs_cmd = app.add_subcommand(
      "jobs",
      "List download jobs (through a running server when one answers, else from the "
      "registry); `jobs rm ID...` removes them.");
  jobs_cmd->add_flag("--json", jobs.json, "print JSON");
  jobs_cmd->add_flag("--local", jobs.local, "read the registry even if a server is running");
  auto* jobs_rm = jobs_cmd->add_subcommand(
      "rm", "Remove jobs: cancel them if unfinished (their partial downloads go) and forget them.");
  jobs_rm->add_option("id", jobs.remove, "job ids (dwnld_...)");
  jobs_rm->add_flag("--finished", jobs.remove_finished, "every completed, failed or cancelled job");
  jobs_cmd->footer(Examples({"modeld jobs", "modeld jobs --json", "modeld jobs rm dwnld_0123abcd",
                             "modeld jobs rm --finished"}));
  jobs_rm->footer(Examples({"modeld jobs rm dwnld_0123abcd", "modeld jobs rm --finished"}));

  cli::LoadArgs ld;
  auto* load_cmd = app.add_subcommand(
      "load",
      "Load a model into memory: map every file and read it into RAM, so that a runtime "
      "mapping the same files (llama.cpp, ...) starts without touching the disk. Through a "
      "running server (same data dir) the server holds it and this returns; without one, "
      "this process holds it until Ctrl-C or until it has been idle for its keep-alive.");
  load_cmd->add_option("ref", ld.ref, "NAME[:VERSION] (version latest when not given)")->required();
  load_cmd->add_flag("--mlock", ld.mlock,
                     "lock its pages in RAM (needs RLIMIT_MEMLOCK: ulimit -l unlimited, or "
                     "LimitMEMLOCK=infinity in a systemd unit)");
  load_cmd->add_option("--keep-alive", ld.keep_alive,
                       "unload it after it has been idle this long: 5m, 1h, 300 (seconds), 0 to "
                       "unload now, -1 never (default: the server's --keep-alive, else 5m)");
  load_cmd->add_flag("--json", ld.json, "print JSON");
  load_cmd->add_flag("--local", ld.local, "load in this process even if a server is running");
  load_cmd->footer(Examples({"modeld load qwen2.5-0.5b:Q4_K_M",
                             "modeld load qwen2.5-0.5b:Q4_K_M --keep-alive 1h --mlock",
                             "modeld load qwen2.5-0.5b:Q4_K_M --keep-alive 0   # unload it",
                             "modeld load resnet50:v1 --local   # held until Ctrl-C"}));
  auto* unload_cmd = app.add_subcommand(
      "unload", "Unload a model a running server holds in memory (its files stay installed).");
  unload_cmd->add_option("ref", ld.ref, "NAME[:VERSION] (version latest when not given)")
      ->required();
  unload_cmd->add_flag("--json", ld.json, "print JSON");
  unload_cmd->footer(Examples({"modeld unload qwen2.5-0.5b:Q4_K_M", "modeld unload resnet50:v1"}));
  auto* ps_cmd = app.add_subcommand(
      "ps",
      "List the models a running server holds in memory: size, resident bytes, since when, "
      "and when they expire (their keep-alive).");
  ps_cmd->add_flag("--json", ld.json, "print JSON");
  ps_cmd->footer(Examples({"modeld ps", "modeld ps --json"}));

  cli::LimitArgs limit;
  auto* limit_cmd = app.add_subcommand(
      "limit",
      "Show or change a running server's download limits, live: RATE caps all downloads "
      "together (bytes a second, K = 1024; 0 or off: none), --job ID caps one download, "
      "--per-host N the connections to one host.");
  limit_cmd->add_option("rate", limit.rate, "bytes a second, e.g. 10M, 512K, 1.5G; 0 or off: none");
  limit_cmd->add_option("--job", limit.job, "limit this download (dwnld_...) instead of all");
  limit_cmd->add_option("--per-host", limit.per_host, "connections to one host at once (1-256)")
      ->check(CLI::Range(1, 256));
  limit_cmd->add_flag("--json", limit.json, "print JSON");
  limit_cmd->footer(
      Examples({"modeld limit", "modeld limit 20M", "modeld limit off",
                "modeld limit 2M --job dwnld_0123abcd", "modeld limit --per-host 8"}));

  auto* version_cmd = app.add_subcommand(
      "version",
      "Print modeld's version, the git commit it was built from and the build date (as -V "
      "and --version do).");
  version_cmd->footer(Examples({"modeld version", "modeld --version"}));
  std::vector<std::string> help_topic;
  auto* help_cmd = app.add_subcommand("help", "Show the help of modeld, or of a COMMAND.");
  help_cmd->add_option("command", help_topic, "a command, e.g. pull, or jobs rm");
  help_cmd->footer(Examples({"modeld help", "modeld help pull", "modeld help jobs rm"}));

  // `modeld` alone shows what it can do, as docker and ollama do (CLI11 would only say that
  // a command is required).
  if (argc == 1) {
    std::printf("%s", app.help().c_str());
    return cli::kExitOk;
  }
  // An unknown command is named, with the nearest known one (before CLI11, which would only
  // say that a command is required).
  if (auto rc = cli::CheckCommandWords(app, argc, argv)) return *rc;

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : cli::kExitUsage;
  }
  // Every command opens the store through store::DefaultStoreOptions, which reads it there.
  if (!registry.empty()) ::setenv("MODELD_REGISTRY", registry.c_str(), 1);
  auto Dispatch = [&]() -> int {
    if (version_cmd->parsed()) {
      std::printf("%s\n", VersionLine().c_str());
      return cli::kExitOk;
    }
    if (help_cmd->parsed()) {
      const CLI::App* topic = &app;
      std::string usage_prefix;  // the commands above |topic|: "modeld jobs" for jobs rm
      for (const auto& word : help_topic) {
        const CLI::App* next = nullptr;
        std::vector<std::string> names;
        for (const CLI::App* c : topic->get_subcommands([](const CLI::App*) { return true; })) {
          if (c->check_name(word)) next = c;
          names.push_back(c->get_name());
        }
        if (next == nullptr) {
          auto near = cli::NearestWords(word, names);
          std::fprintf(stderr, "modeld help: unknown command '%s'%s\n", word.c_str(),
                       near.empty()
                           ? ""
                           : ("; did you mean " + cli::QuotedAlternatives(near) + "?").c_str());
          return cli::kExitUsage;
        }
        usage_prefix += (usage_prefix.empty() ? "" : " ") + topic->get_name();
        topic = next;
      }
      // The formatter itself: App::help would show the help command's own help.
      std::string text = topic->get_formatter()->make_help(
          topic, usage_prefix.empty() ? topic->get_name() : usage_prefix + " " + topic->get_name(),
          CLI::AppFormatMode::Normal);
      std::fwrite(text.data(), 1, text.size(), stdout);
      return cli::kExitOk;
    }
    pull.data_dir = data_dir;
    pull.catalogs = catalogs;
    pull.ollama_models = ollama_models;
    pull.ollama_registry = ollama_registry;
    st.data_dir = data_dir;
    if (pull_cmd->parsed()) return cli::RunPull(pull);
    if (search_cmd->parsed()) {
      search.data_dir = data_dir;
      search.catalogs = catalogs;
      return cli::RunSearch(search);
    }
    if (serve_cmd->parsed()) {
      log::SetLevel(log_level == "warn" ? "info" : log_level);  // the access log
      serve.data_dir = data_dir;
      serve.catalogs = catalogs;
      serve.ollama_models = ollama_models;
      serve.ollama_registry = ollama_registry;
      return app::RunServe(std::move(serve));
    }
    if (limit_cmd->parsed()) return cli::RunLimit(limit);
    if (jobs_cmd->parsed()) {
      jobs.data_dir = data_dir;
      if (jobs_rm->parsed() && jobs.remove.empty() && !jobs.remove_finished) {
        std::fprintf(stderr, "modeld jobs rm: give job ids or --finished\n");
        return cli::kExitUsage;
      }
      return cli::RunJobs(jobs);
    }
    ld.data_dir = data_dir;
    if (load_cmd->parsed()) return cli::RunLoad(ld);
    if (unload_cmd->parsed()) return cli::RunUnload(ld);
    if (ps_cmd->parsed()) return cli::RunPs(ld);
    if (ls_cmd->parsed()) return cli::RunLs(st);
    if (info_cmd->parsed()) return cli::RunInfo(st);
    if (rm_cmd->parsed()) return cli::RunRm(st);
    if (verify_cmd->parsed()) return cli::RunVerify(st);
    if (gc_cmd->parsed()) return cli::RunGc(st);
    if (cache_cmd->parsed()) return cli::RunCache(st);
    return cli::kExitUsage;
  };
  log::SetLevel(log_level);
  // Where upstream requests may connect (SSRF): once, before any subcommand runs.
  net::UpstreamPolicy policy = net::UpstreamPolicy::FromEnvironment();
  if (allow_private_upstreams) policy.set_allow_private(true);
  for (const auto& entry : allowed_upstreams) {
    if (Status s = policy.Allow(entry); !s.ok()) {
      std::fprintf(stderr, "modeld: --allow-upstream: %s\n", s.message().c_str());
      return cli::kExitUsage;
    }
  }
  net::SetUpstreamPolicy(std::move(policy));
  // Which CAs upstreams' certificates are checked against: once, before any subcommand.
  std::string ca_warning;
  auto ca = net::ResolveCaBundle(ca_bundle, &ca_warning);
  if (!ca.has_value()) {
    std::fprintf(stderr, "modeld: %s\n", ca.error().message().c_str());
    return cli::kExitUsage;
  }
  if (!ca_warning.empty()) log::Warn("TLS: {}", ca_warning);
  // serve logs it at its start, once its log is set up.
  if (!serve_cmd->parsed()) log::Info("{}", net::CaBundleLogLine(*ca));
  net::SetCaBundle(std::move(ca.value()));
  // Nothing may escape main: an unexpected exception is reported as what it is.
  try {
    return Dispatch();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "modeld: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "modeld: internal error\n");
  }
  return cli::kExitInternal;
}
