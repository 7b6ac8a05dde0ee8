// Opening the service a process runs on: the store at a data dir, the catalogs it knows
// (the default one, <data dir>/config.json's "catalogs", and --catalog flags), and the
// Hub settings from the environment. For the composition roots (the CLI commands, the
// server) and tests.
//
// Thread safety: plain functions.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "service/model_service.h"

namespace modeld::service {

// Opens the store at |data_dir| (empty: $MODELD_HOME, else ~/.local/share/modeld) with a
// Resolver over the environment's Hub settings and the catalogs: the default one, then
// the "catalogs" list of <data dir>/config.json, then |catalogs| (--catalog), each
// "PATH", "URL" or "NAME=PATH_OR_URL". An unreadable or malformed catalog is an error
// naming it.
Result<std::unique_ptr<ModelService>> OpenService(const std::string& data_dir,
                                                  const std::vector<std::string>& catalogs = {});

// What a composition root may set beyond the data dir and the catalogs; empty: the
// environment's (store::DefaultStoreOptions, sources::OllamaConfig::FromEnvironment).
struct OpenOptions {
  std::vector<std::string> catalogs;
  std::string ollama_models;    // --ollama-models: Ollama's model directory ("none": off)
  std::string ollama_registry;  // --ollama-registry: the registry for Ollama names
};
Result<std::unique_ptr<ModelService>> OpenService(const std::string& data_dir,
                                                  const OpenOptions& options);

// The data dir OpenService(|data_dir|) opens, as an absolute path, without opening it.
std::filesystem::path DataDirFor(const std::string& data_dir);

}  // namespace modeld::service
