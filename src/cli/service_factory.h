// Builds the in-process ModelService the CLI commands use.
#pragma once

#include <memory>
#include <string>

#include "service/model_service.h"

namespace modeld::cli {

// Opens the store at --data-dir (or its defaults) with a fresh engine.
Result<std::unique_ptr<service::ModelService>> OpenService(const std::string& data_dir);

}  // namespace modeld::cli
