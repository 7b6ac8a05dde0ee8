#include "cli/progress.h"

#include <cmath>

#include "core/fs.h"

namespace modeld::cli {

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

ProgressPrinter::ProgressPrinter(std::FILE* out, bool tty, std::string label)
    : out_(out), tty_(tty), label_(std::move(label)) {}

std::string ProgressPrinter::FormatLine(const service::Progress& ev, int width) {
  char buf[256];
  std::string size = HumanBytes(ev.done);
  if (ev.total) size += "/" + HumanBytes(*ev.total);
  double mbps = ev.bytes_per_second / 1e6;
  std::string eta = ev.eta_seconds ? FormatDuration(*ev.eta_seconds) : "--:--";
  if (ev.total && *ev.total > 0) {
    double pct = 100.0 * static_cast<double>(ev.done) / static_cast<double>(*ev.total);
    std::string bar;
    if (width > 0) {
      int filled = static_cast<int>(pct / 100.0 * width);
      bar = "[" + std::string(filled, '#') + std::string(width - filled, '-') + "] ";
    }
    std::snprintf(buf, sizeof buf, "%5.1f%% %s%s  %.1f MB/s  ETA %s", pct, bar.c_str(),
                  size.c_str(), mbps, eta.c_str());
  } else {
    std::snprintf(buf, sizeof buf, "%s  %.1f MB/s", size.c_str(), mbps);
  }
  std::string line = buf;
  if (ev.state != service::JobState::kDownloading)
    line += "  " + std::string(service::JobStateName(ev.state));
  return line;
}

void ProgressPrinter::Update(const service::Progress& ev) {
  auto now = std::chrono::steady_clock::now();
  bool stage_changed = ev.state != last_stage_;
  last_stage_ = ev.state;
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s %s", label_.c_str(), FormatLine(ev, 24).c_str());
    std::fflush(out_);
    live_line_ = true;
    return;
  }
  if (!stage_changed && now - last_plain_ < std::chrono::seconds(1)) return;
  last_plain_ = now;
  std::fprintf(out_, "%s %s\n", label_.c_str(), FormatLine(ev, 0).c_str());
  std::fflush(out_);
}

void ProgressPrinter::Done() {
  if (live_line_) std::fputc('\n', out_);
  live_line_ = false;
}

}  // namespace modeld::cli
