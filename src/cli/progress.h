// What `modeld pull` shows while it works and when it ends.
//
// The drawing is pure: RenderProgress turns a snapshot of a pull (its progress summed over
// files, and each file's), a terminal width and the time into lines, each shorter than
// the width; RenderPlainLine makes the one line a second written when stderr is not a
// terminal; FormatRetry, FormatWaiting and FormatSummary word the rest. ProgressPrinter
// owns the terminal: it redraws the block of lines in place (the model's line, then one
// per file moving), prints notices and log lines above it, and never leaves a stale line
// behind, whatever the number of lines does.
//
// Sizes and speeds use one unit system: KiB, MiB, GiB and MiB/s (core/fs.h HumanBytes).
//
// Thread safety: the functions are pure. A ProgressPrinter may be called from any thread
// (its lock serialises Update, Message, Done and the log lines it draws around).
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/mutex.h"
#include "service/types.h"

namespace modeld::cli {

using SteadyTime = std::chrono::steady_clock::time_point;

// One pull as the renderer sees it.
struct ProgressSnapshot {
  std::string label;           // "NAME:VERSION", or the file an export writes
  service::Progress progress;  // the latest event: the sums and each file
  SteadyTime start{};          // when the pull began (for the elapsed time)
  bool export_file = false;    // -o FILE: nothing is installed
};

// The live block for a terminal |width| columns wide: the pull's line (name, percent,
// bar, sizes, speed, whole-job ETA), then for a pull of several files a line per file
// moving ("  2/5 name  62% [###---] 6.2/10.0 GiB 45.1 MiB/s"). Every line is at most
// |width| - 1 columns: the name is shortened first (an ellipsis in its middle), then the
// bar goes, then the speed, then the name down to a few letters.
std::vector<std::string> RenderProgress(const ProgressSnapshot& s, int width, SteadyTime now);

// The line written about once a second when stderr is not a terminal: no bar, no control
// codes, nothing shortened: "NAME: 42.1% 17.9 GiB/42.5 GiB 98.3 MiB/s ETA 4:16; 2/5 a.gguf
// 62%, 3/5 b.gguf 12%".
std::string RenderPlainLine(const ProgressSnapshot& s, SteadyTime now);

// "NAME: file 2/5 model-00002-of-00005.gguf (10.0 GiB)": a file of a multi-file pull
// started moving.
std::string FormatFileStart(const std::string& label, const service::Progress& p, size_t index);

// "NAME: w.bin: connection refused, retrying in 2 s (attempt 2)".
std::string FormatRetry(const std::string& label, const service::RetryNotice& r);
// "NAME: waiting for another modeld (pid 4242) downloading w.bin".
std::string FormatWaiting(const std::string& label, const service::WaitNotice& w);

// What a pull did, for its summary line.
struct PullSummary {
  std::string what;  // "NAME:VERSION", or "saved PATH" for an export
  size_t files = 1;
  uint64_t total = 0;    // bytes of every file
  uint64_t reused = 0;   // taken from the store or the Hub cache: not fetched
  uint64_t resumed = 0;  // already on disk from an earlier run: not fetched now
  double seconds = 0;    // from the start to the last byte fetched
  std::string sha256;    // the file's digest: printed for a single-file pull only
};
// "w.bin: 1.2 GiB downloaded in 12.3 s (98.1 MiB/s), sha256 HEX"; resumed: "...: 1.2 GiB:
// 820.0 MiB downloaded in 8.1 s (98.8 MiB/s), resumed from 400.0 MiB already on disk";
// several files: "NAME: 5 files, 42.5 GiB: 30.1 GiB downloaded in 5:12 (98.7 MiB/s), 12.4
// GiB reused from the store" (no digest: the model has one per file). The speed counts
// only the bytes fetched in this run.
std::string FormatSummary(const PullSummary& s);
// The summary of the pull whose last event is |last|, |seconds| from start to last byte.
PullSummary SummarizeProgress(std::string what, const service::Progress& last, uint64_t total,
                              double seconds, std::string sha256);

std::string FormatDuration(double seconds);       // "1:02:03", "2:03"
std::string FormatRate(double bytes_per_second);  // "98.3 MiB/s"
// The display width of |s| (UTF-8: one column per code point).
size_t DisplayWidth(const std::string& s);
// |s| cut to |width| columns with an ellipsis in its middle: its start and its end (where
// a quantization, a part number or a file extension is) stay, |head_share| of what is kept
// from the start.
std::string ShortenMiddle(const std::string& s, size_t width, double head_share = 0.5);

// Draws a pull's progress on |out|. On a terminal (|tty|): a live block redrawn in place
// (at most ten times a second, at once when its lines change), the width read from
// |width| each time (default: the terminal's, else $COLUMNS, else 80); log lines (core/log
// SetConsoleWriter) and notices go above the block. Otherwise: plain lines, one a second
// (an unchanged one every 30 s only) plus one per stage, file started and notice.
class ProgressPrinter {
 public:
  // |clock| (default: steady_clock) is for tests.
  ProgressPrinter(std::FILE* out, bool tty, std::string label, bool export_file = false,
                  std::function<int()> width = nullptr,
                  std::function<SteadyTime()> clock = nullptr);
  // Removes the block from the screen (as Done) and gives log lines back to stderr.
  ~ProgressPrinter();
  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  void Update(const service::Progress& p) EXCLUDES(mu_);
  // Prints |line| (no newline) above the live block, or as a plain line.
  void Message(const std::string& line) EXCLUDES(mu_);
  // Clears the live block so later output starts on a clean line.
  void Done() EXCLUDES(mu_);

 private:
  void Draw(SteadyTime now) REQUIRES(mu_);
  void Clear() REQUIRES(mu_);  // erases the block; the cursor ends where it began
  void WriteAbove(std::string_view text) REQUIRES(mu_);

  std::FILE* out_;
  const bool tty_;
  std::function<int()> width_;
  std::function<SteadyTime()> clock_;
  Mutex mu_;
  ProgressSnapshot snap_ GUARDED_BY(mu_);
  bool have_ GUARDED_BY(mu_) = false;
  int drawn_ GUARDED_BY(mu_) = 0;  // lines of the block on screen; the cursor is on the last
  SteadyTime last_draw_ GUARDED_BY(mu_){};
  size_t last_lines_ GUARDED_BY(mu_) = 0;
  SteadyTime last_plain_ GUARDED_BY(mu_){};
  std::string last_plain_line_ GUARDED_BY(mu_);
  service::JobState last_stage_ GUARDED_BY(mu_) = service::JobState::kQueued;
  std::vector<bool> started_ GUARDED_BY(mu_);  // per file: its start was told (plain)
  bool done_ GUARDED_BY(mu_) = false;
};

// The terminal's width in columns for |fd|, else $COLUMNS, else 80.
int TerminalWidth(int fd);

}  // namespace modeld::cli
