// What this binary is: modeld's version (CMake's PROJECT_VERSION), the git commit it was
// built from and when. Written at build time into build_info.cc by src/app/build_info.cmake
// (only when a value changes, so an unchanged rebuild relinks nothing); `modeld --version`
// and GET /version say them.
//
// Thread safety: immutable.
#pragma once

namespace modeld::app {

struct BuildInfo {
  const char* version;     // "0.1.0"
  const char* commit;      // "e1bfa0e", "e1bfa0e-dirty" (tracked files changed), or "unknown"
  const char* build_date;  // UTC, ISO 8601: "2025-01-31T12:00:00Z" (SOURCE_DATE_EPOCH when set)
};

const BuildInfo& GetBuildInfo();

}  // namespace modeld::app
