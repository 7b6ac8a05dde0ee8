// `modeld limit`: a running server's download limits, shown and changed while downloads
// run: the bytes a second over all downloads, one job's own cap, and the connections to
// one host. Through the server's PATCH /settings and PATCH /model-download/{id}; without a
// running server there is nothing to change (a standalone `modeld pull` takes --max-rate).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"

namespace modeld::cli {

struct LimitArgs {
  std::string rate;  // "10M", "512K", "1.5G", "0"/"off"/"none" (no limit); "": show
  std::string job;   // --job ID: that job's own cap instead of the server's
  int per_host = 0;  // --per-host N (1..256); 0: unchanged
  bool json = false;
};

// "10M" -> 10485760: a number (a fraction allowed) with an optional unit K, M, G or T
// (powers of 1024, as curl's --limit-rate and aria2's), optionally followed by "i", "B"
// and "/s" ("10MiB/s"); "0", "off", "none", "unlimited" -> 0. InvalidArgument otherwise,
// and for a rate under 1K a second (but 0).
Result<uint64_t> ParseRate(const std::string& text);

int RunLimit(const LimitArgs& args);

}  // namespace modeld::cli
