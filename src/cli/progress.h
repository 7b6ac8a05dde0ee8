// Renders transfer progress for a person: a live bar on a terminal, or one plain line a
// second when stderr is a pipe or file (logs, CI).
//
// Thread safety: Update may be called from any one thread at a time.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "service/types.h"

namespace modeld::cli {

class ProgressPrinter {
 public:
  ProgressPrinter(std::FILE* out, bool tty, std::string label);
  void Update(const service::Progress& p);
  // Ends the live line (if any) so later output starts on a fresh line.
  void Done();

  // "  45.2% [#########-----------]  1.2 GiB/2.6 GiB  113.4 MB/s  ETA 0:12" (exposed for tests)
  static std::string FormatLine(const service::Progress& p, int width);

 private:
  std::FILE* out_;
  bool tty_;
  std::string label_;
  bool live_line_ = false;
  std::chrono::steady_clock::time_point last_plain_{};
  service::JobState last_stage_ = service::JobState::kQueued;
};

std::string FormatDuration(double seconds);  // "1:02:03", "2:03"

}  // namespace modeld::cli
