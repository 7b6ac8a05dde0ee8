// `modeld pull MODEL`: downloads a model into the store. MODEL is a URL, a catalog name
// (NAME[:VERSION]), a Hugging Face repository (org/name[:REVISION_OR_QUANT], hf://...,
// https://huggingface.co/...). With -o a URL is exported to a plain file instead.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace modeld::cli {

struct PullArgs {
  std::string model;     // URL, NAME[:VERSION], org/name[:VERSION], hf://..., Hub link
  std::string output;    // -o: export to this file, bypassing the store
  std::string name;      // --name NAME[:VERSION] for a URL; default from its file name
  std::string data_dir;  // --data-dir
  bool force = false;
  std::string checksum;  // --checksum algo:hex
  std::string sha256;    // --sha256 hex
  std::vector<std::string> headers;
  int connections = 16;
  uint64_t max_rate = 0;    // --max-rate: bytes a second; 0 = none
  int retries = -1;         // --retries: also at most this many in a row; -1: no count
  double retry_for_s = -1;  // --retry-for: the retry budget in seconds; -1: the default
  double timeout_s = 0;     // whole download; 0 = none
  double stall_timeout_s = 30;
  double connect_timeout_s = 30;
  bool no_verify_ssl = false;
  bool quiet = false;
  bool json = false;
  bool local = false;  // never hand the pull to a running server
  // Sources.
  std::string source;  // --source: huggingface, default, or a catalog's name
  std::vector<std::string> include, exclude;
  std::string revision, quantization;
  bool no_extract = false;            // keep archives as they are
  bool keep_archive = false;          // keep the archive beside what it extracted
  std::vector<std::string> catalogs;  // --catalog
  std::string ollama_models;          // --ollama-models
  std::string ollama_registry;        // --ollama-registry
};

// Runs the pull; returns the process exit code (cli/exit_codes.h).
int RunPull(const PullArgs& args);

}  // namespace modeld::cli
