// The typed part of an error every dialect's error body carries beside its own message
// field: "error_code" (Status::CodeName) and, when the failure is typed, "error_detail"
// {"reason", and its named values}, so that a client (the CLI through a server) can word
// it its own way.
//
// Thread safety: stateless.
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace modeld::api {

// Adds "error_code" and "error_detail" (values redacted of credentials) to |j|.
void AddErrorCode(nlohmann::json& j, const Status& s);

}  // namespace modeld::api
