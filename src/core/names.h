// Model references and path validation. Every name and file path that comes from a
// source, a request or the command line passes through here before it touches disk.
//
// Thread safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace modeld {

// A model is "name:version": "resnet50:v1.0", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M".
struct ModelRef {
  std::string name;
  std::string version;
  std::string ToString() const { return name + ":" + version; }
  bool operator==(const ModelRef&) const = default;
};

// A stable id for |ref| where a client wants one (Pieces' Model.id): the UUID version 5 of
// its canonical "name:version" in modeld's own namespace (RFC 9562), lower-case. The same
// model has the same id in every process, after every restart, on every machine.
std::string ModelUuid(const ModelRef& ref);
// Whether |text| is a UUID written as 8-4-4-4-12 hex digits (either case).
bool IsUuid(std::string_view text);

// Parses "name[:version]", validating both; a missing version is |default_version|.
Result<ModelRef> ParseModelRef(std::string_view text, std::string_view default_version = "latest");

// name: 1-200 chars of [A-Za-z0-9._-] in 1-4 '/'-separated segments, none empty, none
// starting with '.' or '-'. Returns InvalidArgument saying what is wrong.
Status ValidateModelName(std::string_view name);
// version: 1-128 chars of [A-Za-z0-9._+-], not starting with '.' or '-'.
Status ValidateVersion(std::string_view version);
// A file path inside a model: relative, '/'-separated segments of 1-255 bytes, none
// "." or ".." or ".git" (in any case), no NUL, control characters or backslashes, valid
// UTF-8 (paths are written into JSON), at most 1024 bytes. The one check for every path
// an upstream chooses: Hub tree listings, catalogs, Content-Disposition names and (after
// "./" prefixes are dropped) archive entries.
Status ValidateRelativePath(std::string_view path);

}  // namespace modeld
