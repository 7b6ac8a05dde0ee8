// Builds the in-process ModelService the CLI commands and the server use.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "service/model_service.h"

namespace modeld::cli {

// The catalogs to read besides the default one: |flags| (--catalog, repeatable) and the
// "catalogs" list of <data dir>/config.json, each "PATH", "URL" or "NAME=PATH_OR_URL".
// An unreadable or malformed catalog is an error naming it.
Result<std::vector<sources::Catalog>> LoadCatalogs(const std::filesystem::path& data_dir,
                                                   const std::vector<std::string>& flags);

// Opens the store at --data-dir (or its defaults) with a fresh engine and a Resolver over
// the environment's Hub settings and the catalogs.
Result<std::unique_ptr<service::ModelService>> OpenService(const std::string& data_dir,
                                                           const std::vector<std::string>& catalogs = {});

}  // namespace modeld::cli
