// A pull request as JSON and back: what the jobs table stores, so a job survives a
// restart. Additive: a field a newer modeld adds reads as its default in an older one.
//
// Thread safety: stateless functions.
#pragma once

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "service/types.h"

namespace modeld::service {

nlohmann::json PullRequestToJson(const PullRequest& r, int priority);
// Corrupt when a required field is missing or of the wrong type; never throws.
Result<PullRequest> PullRequestFromJson(const nlohmann::json& j, int* priority);

}  // namespace modeld::service
