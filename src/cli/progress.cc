#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/fs.h"
#include "core/log.h"
#include "core/time_format.h"

namespace modeld::cli {

namespace {

using service::JobState;

constexpr size_t kMinName = 16;  // the name is not shortened below this while parts can go
constexpr size_t kTinyName = 8;  // ...and below this never, but to fit at all
constexpr size_t kMinBar = 10;   // bar columns between its brackets
constexpr size_t kMaxBar = 30;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr auto kPlainInterval = std::chrono::seconds(1);
constexpr auto kPlainRepeat = std::chrono::seconds(30);  // an unchanged plain line, again
const char kEllipsis[] = "\u2026";

// One piece of a line after the name. |drop| orders what goes first when the line is too
// wide (1 first); 0 never goes. A bar's text is empty: it is drawn to the room left.
struct Part {
  std::string text;
  int drop = 0;
  bool bar = false;
  double fraction = 0;  // the bar's
};

std::string Bar(double fraction, size_t inner) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  size_t filled = static_cast<size_t>(fraction * static_cast<double>(inner));
  return "[" + std::string(filled, '#') + std::string(inner - filled, '-') + "]";
}

// Lays out |prefix| |name| |parts| in at most |avail| columns: the name whole if it can
// be; else shortened down to kMinName; else parts dropped in their order; else the name
// down to kTinyName, dropping more; else cut. |head|: the share of a shortened name kept
// from its start.
std::string Fit(const std::string& prefix, const std::string& name, const std::vector<Part>& parts,
                size_t avail, double head = 0.5) {
  const size_t name_w = DisplayWidth(name);
  int max_drop = 0;
  for (const auto& p : parts) max_drop = std::max(max_drop, p.drop);
  struct Level {
    int dropped;      // parts with 0 < drop <= this go
    size_t min_name;  // the name may shrink to this
  };
  std::vector<Level> levels = {{0, name_w}};
  for (int d = 0; d <= max_drop; ++d) levels.push_back({d, std::min(name_w, kMinName)});
  for (int d = 0; d <= max_drop; ++d) levels.push_back({d, std::min(name_w, kTinyName)});
  for (const Level& level : levels) {
    std::vector<const Part*> kept;
    for (const auto& p : parts) {
      if (p.drop == 0 || p.drop > level.dropped) kept.push_back(&p);
    }
    size_t fixed = DisplayWidth(prefix);
    bool has_bar = false;
    for (const Part* p : kept) {
      fixed += 1 + (p->bar ? kMinBar + 2 : DisplayWidth(p->text));
      has_bar = has_bar || p->bar;
    }
    if (fixed + level.min_name > avail) continue;
    size_t room = avail - fixed;
    size_t shown = std::min(name_w, room);
    size_t extra = room - shown;
    size_t bar_inner = kMinBar + (has_bar ? std::min(extra, kMaxBar - kMinBar) : 0);
    std::string line = prefix + ShortenMiddle(name, shown, head);
    for (const Part* p : kept) line += " " + (p->bar ? Bar(p->fraction, bar_inner) : p->text);
    return line;
  }
  std::string all = prefix + name;
  for (const auto& p : parts) {
    if (p.drop == 0) all += " " + p.text;
  }
  return ShortenMiddle(all, avail, head);
}

// "  7%", " 42%", "100%": one width, so the line does not shift as it grows.
std::string Percent(uint64_t done, uint64_t total) {
  int pct = total == 0 || done >= total
                ? 100
                : static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total));
  char buf[8];
  std::snprintf(buf, sizeof buf, "%3d%%", pct);
  return buf;
}

// "17.9/42.5 GiB": the bytes done in the total's unit, so the width stays as they grow;
// "12.0 MiB" without a total.
std::string Sizes(uint64_t done, std::optional<uint64_t> total) {
  if (!total) return HumanBytes(done);
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  double scale = 1;
  while (static_cast<double>(*total) / scale >= 1024.0 && unit < 4) {
    scale *= 1024.0;
    ++unit;
  }
  char buf[64];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu/%llu B", static_cast<unsigned long long>(done),
                  static_cast<unsigned long long>(*total));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f/%.1f %s", static_cast<double>(done) / scale,
                  static_cast<double>(*total) / scale, kUnits[unit]);
  }
  return buf;
}

std::string StageWord(JobState state, bool export_file) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kResolving:
      return "resolving";
    case JobState::kDownloading:
      return "";
    case JobState::kVerifying:
      return "verifying";
    case JobState::kInstalling:
      return export_file ? "verifying" : "installing";
    case JobState::kCompleted:
      return "done";
    case JobState::kPaused:
      return "paused";
    case JobState::kCancelled:
      return "cancelled";
    case JobState::kFailed:
      return "failed";
  }
  return "";
}

// The whole job's ETA: what is left of every file over the speed of all of them.
std::optional<double> JobEta(const service::Progress& p) {
  if (!p.total || p.bytes_per_second <= 0) return std::nullopt;
  uint64_t left = *p.total - std::min(*p.total, p.done);
  return static_cast<double>(left) / p.bytes_per_second;
}

std::vector<Part> HeaderParts(const ProgressSnapshot& s, SteadyTime now) {
  const auto& p = s.progress;
  std::vector<Part> parts;
  std::string stage = StageWord(p.state, s.export_file);
  if (p.state == JobState::kResolving && p.done == 0) return {{stage, 4}};
  if (p.total && *p.total > 0) {
    parts.push_back({Percent(p.done, *p.total), 0});
    parts.push_back({"", 1, true, static_cast<double>(p.done) / static_cast<double>(*p.total)});
  }
  parts.push_back({Sizes(p.done, p.total), 3});
  if (!stage.empty()) {
    parts.push_back({stage, 4});
    return parts;
  }
  parts.push_back({FormatRate(p.bytes_per_second), 2});
  if (p.total) {
    auto eta = JobEta(p);
    parts.push_back({"ETA " + (eta ? FormatDuration(*eta) : std::string("--:--")), 4});
  } else {
    parts.push_back(
        {FormatDuration(std::chrono::duration<double>(now - s.start).count()) + " elapsed", 4});
  }
  return parts;
}

std::vector<Part> FileParts(const service::FileProgress& f) {
  std::vector<Part> parts;
  if (f.total && *f.total > 0) {
    parts.push_back({Percent(f.done, *f.total), 0});
    parts.push_back({"", 1, true, static_cast<double>(f.done) / static_cast<double>(*f.total)});
  }
  parts.push_back({Sizes(f.done, f.total), 3});
  if (f.state == JobState::kDownloading) {
    parts.push_back({FormatRate(f.bytes_per_second), 2});
  } else {
    parts.push_back({StageWord(f.state, false), 2});
  }
  return parts;
}

bool Moving(const service::FileProgress& f) { return service::IsActive(f.state); }

std::string Index(size_t i, size_t n) { return std::to_string(i + 1) + "/" + std::to_string(n); }

}  // namespace

size_t DisplayWidth(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++w;
  }
  return w;
}

std::string ShortenMiddle(const std::string& s, size_t width, double head_share) {
  if (DisplayWidth(s) <= width) return s;
  if (width == 0) return "";
  // Code point boundaries.
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) starts.push_back(i);
  }
  size_t keep = width - 1;
  size_t head = static_cast<size_t>(static_cast<double>(keep) * std::clamp(head_share, 0.0, 1.0));
  size_t tail = keep - head;
  std::string out = s.substr(0, head < starts.size() ? starts[head] : s.size());
  out += kEllipsis;
  if (tail > 0) out += s.substr(starts[starts.size() - tail]);
  return out;
}

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

std::string FormatRate(double bytes_per_second) {
  if (!std::isfinite(bytes_per_second) || bytes_per_second < 0) bytes_per_second = 0;
  return HumanBytes(static_cast<uint64_t>(bytes_per_second)) + "/s";
}

std::vector<std::string> RenderProgress(const ProgressSnapshot& s, int width, SteadyTime now) {
  if (width < 2) return {};
  const size_t avail = static_cast<size_t>(width) - 1;
  std::vector<std::string> lines;
  lines.push_back(Fit("", s.label, HeaderParts(s, now), avail));
  const auto& files = s.progress.files;
  if (files.size() > 1) {
    for (size_t i = 0; i < files.size(); ++i) {
      if (!Moving(files[i])) continue;
      // A file's end tells it from its siblings ("-00002-of-00005.gguf"): keep more of it.
      lines.push_back(Fit("  " + Index(i, files.size()) + " ", files[i].path, FileParts(files[i]),
                          avail, 1.0 / 3));
    }
  }
  return lines;
}

std::string RenderPlainLine(const ProgressSnapshot& s, SteadyTime now) {
  const auto& p = s.progress;
  std::string line = s.label + ":";
  std::string stage = StageWord(p.state, s.export_file);
  if (p.state == JobState::kResolving && p.done == 0) return line + " " + stage;
  if (p.total && *p.total > 0) {
    char pct[16];
    std::snprintf(
        pct, sizeof pct, " %.1f%%",
        std::min(100.0, 100.0 * static_cast<double>(p.done) / static_cast<double>(*p.total)));
    line += pct;
  }
  line += " " + HumanBytes(p.done);
  if (p.total) line += "/" + HumanBytes(*p.total);
  if (!stage.empty()) {
    line += " " + stage;
  } else {
    line += " " + FormatRate(p.bytes_per_second);
    if (p.total) {
      auto eta = JobEta(p);
      line += " ETA " + (eta ? FormatDuration(*eta) : std::string("--:--"));
    } else {
      line +=
          " " + FormatDuration(std::chrono::duration<double>(now - s.start).count()) + " elapsed";
    }
  }
  if (p.files.size() > 1) {
    std::string moving;
    for (size_t i = 0; i < p.files.size(); ++i) {
      const auto& f = p.files[i];
      if (!Moving(f)) continue;
      moving += (moving.empty() ? "; " : ", ") + Index(i, p.files.size()) + " " + f.path;
      if (f.total && *f.total > 0) {
        std::string pct = Percent(f.done, *f.total);
        moving += " " + pct.substr(pct.find_first_not_of(' '));
      }
    }
    line += moving;
  }
  return line;
}

std::string FormatFileStart(const std::string& label, const service::Progress& p, size_t i) {
  const auto& f = p.files.at(i);
  std::string line = label + ": file " + Index(i, p.files.size()) + " " + f.path;
  if (f.total) line += " (" + HumanBytes(*f.total) + ")";
  return line;
}

std::string FormatRetry(const std::string& label, const service::RetryNotice& r) {
  std::string line = label + ": ";
  if (!r.file.empty()) line += r.file + ": ";
  return line + r.reason + ", retrying in " + HumanDuration(r.delay) + " (attempt " +
         std::to_string(r.attempt) + ")";
}

std::string FormatWaiting(const std::string& label, const service::WaitNotice& w) {
  std::string who = w.this_process ? "another download in this process"
                    : w.pid > 0    ? "another modeld (pid " + std::to_string(w.pid) + ")"
                                   : "another modeld";
  return label + ": waiting for " + who + " downloading " + w.what;
}

PullSummary SummarizeProgress(std::string what, const service::Progress& last, uint64_t total,
                              double seconds, std::string sha256) {
  PullSummary s;
  s.what = std::move(what);
  s.total = total;
  s.seconds = seconds;
  s.sha256 = std::move(sha256);
  if (last.files.empty()) {
    s.resumed = last.resumed;
    return s;
  }
  s.files = last.files.size();
  uint64_t sum = 0;
  bool all_known = true;
  for (const auto& f : last.files) {
    uint64_t size = f.total.value_or(f.done);
    all_known = all_known && f.total.has_value();
    sum += size;
    if (f.reused) {
      s.reused += size;
    } else {
      s.resumed += std::min(f.resumed, size);
    }
  }
  if (all_known) s.total = sum;
  return s;
}

std::string FormatSummary(const PullSummary& s) {
  std::string out = s.what + ": ";
  out += s.files > 1 ? std::to_string(s.files) + " files, " + HumanBytes(s.total)
                     : HumanBytes(s.total);
  const uint64_t kept = s.reused + s.resumed;
  const uint64_t fetched = s.total > kept ? s.total - kept : 0;
  if (fetched == 0) {
    if (s.reused > 0) {
      out += s.reused == s.total && s.files > 1
                 ? ", all reused from the store"
                 : ", " + HumanBytes(s.reused) + " reused from the store";
    }
    if (s.resumed > 0) out += ", " + HumanBytes(s.resumed) + " already on disk";
    out += ", nothing downloaded";
  } else {
    char secs[32];
    if (s.seconds < 60) {
      std::snprintf(secs, sizeof secs, "%.1f s", s.seconds);
    } else {
      std::snprintf(secs, sizeof secs, "%s", FormatDuration(s.seconds).c_str());
    }
    std::string rate =
        s.seconds > 0 ? FormatRate(static_cast<double>(fetched) / s.seconds) : FormatRate(0);
    if (kept == 0) {
      out += " downloaded in " + std::string(secs) + " (" + rate + ")";
    } else {
      out += ": " + HumanBytes(fetched) + " downloaded in " + secs + " (" + rate + ")";
    }
    if (s.reused > 0) out += ", " + HumanBytes(s.reused) + " reused from the store";
    if (s.resumed > 0) out += ", resumed from " + HumanBytes(s.resumed) + " already on disk";
  }
  if (s.files <= 1 && !s.sha256.empty()) out += ", sha256 " + s.sha256;
  return out;
}

int TerminalWidth(int fd) {
  struct winsize ws {};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    int n = std::atoi(c);
    if (n > 0) return n;
  }
  return 80;
}

// ---------------------------------------------------------------------------------------
// The printer.

ProgressPrinter::ProgressPrinter(std::FILE* out, bool tty, std::string label, bool export_file,
                                 std::function<int()> width, std::function<SteadyTime()> clock)
    : out_(out), tty_(tty), width_(std::move(width)), clock_(std::move(clock)) {
  if (!width_) width_ = [fd = ::fileno(out)] { return TerminalWidth(fd); };
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
  snap_.label = std::move(label);
  snap_.export_file = export_file;
  snap_.start = clock_();
  if (tty_) {
    // Log lines go above the block, not into it.
    log::SetConsoleWriter([this](std::string_view line) {
      MutexLock lock(&mu_);
      WriteAbove(line);
    });
  }
}

ProgressPrinter::~ProgressPrinter() {
  if (tty_) log::SetConsoleWriter(nullptr);
  Done();
}

void ProgressPrinter::Clear() {
  if (drawn_ == 0) return;
  std::fputs("\r", out_);
  if (drawn_ > 1) std::fprintf(out_, "\033[%dA", drawn_ - 1);
  std::fputs("\033[J", out_);
  drawn_ = 0;
}

void ProgressPrinter::Draw(SteadyTime now) {
  auto lines = RenderProgress(snap_, width_(), now);
  Clear();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) std::fputc('\n', out_);
    std::fputs(lines[i].c_str(), out_);
  }
  drawn_ = static_cast<int>(lines.size());
  last_lines_ = lines.size();
  last_draw_ = now;
  std::fflush(out_);
}

void ProgressPrinter::WriteAbove(std::string_view text) {
  if (tty_) Clear();
  std::fwrite(text.data(), 1, text.size(), out_);
  if (text.empty() || text.back() != '\n') std::fputc('\n', out_);
  if (tty_ && have_ && !done_) {
    Draw(clock_());
  } else {
    std::fflush(out_);
  }
}

void ProgressPrinter::Message(const std::string& line) {
  MutexLock lock(&mu_);
  WriteAbove(line);
}

void ProgressPrinter::Update(const service::Progress& p) {
  MutexLock lock(&mu_);
  if (done_) return;
  const auto now = clock_();
  // A notice is said once, above the block; a wait notice carries no progress of its own.
  if (p.retry) WriteAbove(FormatRetry(snap_.label, *p.retry));
  if (p.waiting) {
    WriteAbove(FormatWaiting(snap_.label, *p.waiting));
    if (have_) return;
  }
  const bool stage_changed = p.state != last_stage_;
  last_stage_ = p.state;
  snap_.progress = p;
  snap_.progress.retry.reset();
  snap_.progress.waiting.reset();
  have_ = true;
  if (tty_) {
    size_t lines = 1;
    if (p.files.size() > 1) {
      lines += static_cast<size_t>(std::count_if(p.files.begin(), p.files.end(), Moving));
    }
    if (stage_changed || lines != last_lines_ || drawn_ == 0 ||
        now - last_draw_ >= kRedrawInterval) {
      Draw(now);
    }
    return;
  }
  // Plain: a line when a file starts, when the stage changes, and once a second.
  if (started_.size() != p.files.size()) started_.assign(p.files.size(), false);
  if (p.files.size() > 1) {
    for (size_t i = 0; i < p.files.size(); ++i) {
      if (started_[i] || !Moving(p.files[i])) continue;
      started_[i] = true;
      std::fprintf(out_, "%s\n", FormatFileStart(snap_.label, p, i).c_str());
    }
  }
  if (stage_changed || now - last_plain_ >= kPlainInterval) {
    // The same words again (a pull waiting out retries) only now and then.
    std::string line = RenderPlainLine(snap_, now);
    if (stage_changed || line != last_plain_line_ || now - last_plain_ >= kPlainRepeat) {
      last_plain_ = now;
      std::fprintf(out_, "%s\n", line.c_str());
      last_plain_line_ = std::move(line);
    }
  }
  std::fflush(out_);
}

void ProgressPrinter::Done() {
  MutexLock lock(&mu_);
  if (tty_) Clear();
  std::fflush(out_);
  done_ = true;
}

}  // namespace modeld::cli
