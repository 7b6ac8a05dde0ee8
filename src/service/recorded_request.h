// What an installed model was pulled with, as its metadata records it (the resolver's
// plan metadata: "url", "checksum", "huggingface" {repo, revision, include, exclude,
// quantization}), against a new request for the same name and version: the pre-flight's
// "is this what is installed?" (ModelService::Prepare and Pull) and "pull it again from
// where it came from" (a repair by name).
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "service/types.h"
#include "store/store.h"

namespace modeld::service {

// "" when |req| asks for what |installed| is: it names nothing else (a request by name
// alone always matches), or what it names (a URL, a checksum, a source, a Hub repository,
// revision, quantization or globs) is what the installed model was pulled with. Otherwise
// how they differ, for logs ("it was pulled from URL").
std::string RequestDiffers(const PullRequest& req, const store::ModelInfo& installed);

// Whether |b| asks for what |a| does (URL, checksum, source, lookup, Hub selection; globs
// in any order), or names its version alone, so |b| may join |a|'s job.
bool SameTarget(const PullRequest& a, const PullRequest& b);

// |req| made to fetch |installed| again from where it came from when |req| names it only:
// its recorded URL, or its Hub repository and selection. A request that says where (a
// URL, a source, a Hub selection) is returned as it is.
PullRequest FromRecordedSource(const PullRequest& req, const store::ModelInfo& installed);

}  // namespace modeld::service
