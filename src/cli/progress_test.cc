#include "cli/progress.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "cli/exit_codes.h"
#include "core/log.h"

namespace modeld::cli {
namespace {

using service::FileProgress;
using service::JobState;
using service::Progress;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;
const char kHubName[] = "bartowski/Meta-Llama-3.1-70B-Instruct-GGUF:Q4_K_M";

FileProgress File(std::string path, uint64_t done, uint64_t total, JobState state,
                  double rate = 0) {
  FileProgress f;
  f.path = std::move(path);
  f.done = done;
  f.total = total;
  f.state = state;
  f.bytes_per_second = rate;
  return f;
}

// A five-file Hub pull: one reused, two done, two moving.
ProgressSnapshot HubPull() {
  ProgressSnapshot s;
  s.label = kHubName;
  Progress& p = s.progress;
  p.state = JobState::kDownloading;
  p.files = {
      File("Meta-Llama-3.1-70B-Instruct-Q4_K_M-00001-of-00005.gguf", 9 * kGiB, 9 * kGiB,
           JobState::kCompleted),
      File("Meta-Llama-3.1-70B-Instruct-Q4_K_M-00002-of-00005.gguf", 6 * kGiB, 9 * kGiB,
           JobState::kDownloading, 60.0 * kMiB),
      File("Meta-Llama-3.1-70B-Instruct-Q4_K_M-00003-of-00005.gguf", 1 * kGiB, 9 * kGiB,
           JobState::kDownloading, 40.0 * kMiB),
      File("Meta-Llama-3.1-70B-Instruct-Q4_K_M-00004-of-00005.gguf", 0, 9 * kGiB,
           JobState::kQueued),
      File("Meta-Llama-3.1-70B-Instruct-Q4_K_M-00005-of-00005.gguf", 6 * kGiB, 6 * kGiB,
           JobState::kCompleted),
  };
  p.files[4].reused = true;
  for (const auto& f : p.files) p.done += f.done;
  p.total = 42 * kGiB;
  p.bytes_per_second = 100.0 * kMiB;
  return s;
}

ProgressSnapshot OneFile(std::string label, uint64_t done, std::optional<uint64_t> total,
                         JobState state = JobState::kDownloading) {
  ProgressSnapshot s;
  s.label = std::move(label);
  s.progress.state = state;
  s.progress.done = done;
  s.progress.total = total;
  s.progress.bytes_per_second = 100.0 * kMiB;
  return s;
}

TEST(ProgressRenderTest, EveryLineFitsEveryWidthFrom40To200) {
  const SteadyTime now{};
  std::vector<ProgressSnapshot> snaps = {
      HubPull(),
      OneFile(kHubName, 512 * kMiB, 1 * kGiB),
      OneFile("https-example.com-a-very-long-file-name-for-a-model.safetensors:latest", 3 * kMiB,
              std::nullopt),
      OneFile("w:latest", 1 * kGiB, 1 * kGiB, JobState::kVerifying),
      OneFile("w:latest", 0, std::nullopt, JobState::kResolving),
  };
  for (const auto& s : snaps) {
    for (int width = 40; width <= 200; ++width) {
      auto lines = RenderProgress(s, width, now);
      ASSERT_FALSE(lines.empty());
      for (const auto& line : lines) {
        EXPECT_LT(DisplayWidth(line), static_cast<size_t>(width))
            << "width " << width << ": '" << line << "'";
        EXPECT_EQ(line.find('\n'), std::string::npos);
      }
      // The name's start is always there; it is shortened only when it must be.
      EXPECT_EQ(lines[0].rfind(s.label.substr(0, 6), 0), 0u) << lines[0];
    }
  }
}

TEST(ProgressRenderTest, ALongHubNameWithAQuantizationFitsAt80) {
  auto lines = RenderProgress(HubPull(), 80, SteadyTime{});
  ASSERT_EQ(lines.size(), 3u) << "the model's line and one per moving file";
  const std::string& head = lines[0];
  EXPECT_LT(DisplayWidth(head), 80u);
  // Shortened in the middle: its owner and its quantization stay, and nothing else went.
  EXPECT_EQ(head.rfind("bartowski/", 0), 0u) << head;
  EXPECT_NE(head.find("GGUF:Q4_K_M"), std::string::npos) << head;
  EXPECT_NE(head.find("\u2026"), std::string::npos) << head;
  EXPECT_NE(head.find("["), std::string::npos) << head;
  EXPECT_NE(head.find("MiB/s"), std::string::npos) << head;
  EXPECT_NE(head.find("ETA "), std::string::npos) << head;
  // Wide enough, nothing is shortened.
  EXPECT_NE(RenderProgress(HubPull(), 160, SteadyTime{})[0].find(kHubName), std::string::npos);
}

TEST(ProgressRenderTest, TheNameIsShortenedBeforeAnythingGoes) {
  const SteadyTime now{};
  ProgressSnapshot s = OneFile(kHubName, 512 * kMiB, 1 * kGiB);
  // The narrowest width that shows the whole name (the bar shrinks to its least first).
  int whole = 200;
  while (RenderProgress(s, whole - 1, now)[0].find(kHubName) != std::string::npos) --whole;
  std::string line = RenderProgress(s, whole, now)[0];
  EXPECT_NE(line.find(" [#####-----] "), std::string::npos) << line;
  // One column less: only the name changes.
  std::string tight = RenderProgress(s, whole - 1, now)[0];
  EXPECT_NE(tight.find("\u2026"), std::string::npos) << tight;
  EXPECT_NE(tight.find("["), std::string::npos) << tight;
  EXPECT_NE(tight.find("MiB/s"), std::string::npos) << tight;
  EXPECT_NE(tight.find("ETA"), std::string::npos) << tight;
  // At 40 columns the bar and the speed have gone, the percent and the ETA stay.
  std::string narrow = RenderProgress(s, 40, now)[0];
  EXPECT_NE(narrow.find("50%"), std::string::npos) << narrow;
  EXPECT_NE(narrow.find("ETA"), std::string::npos) << narrow;
  EXPECT_EQ(narrow.find("["), std::string::npos) << narrow;
}

TEST(ProgressRenderTest, AMultiFilePullShowsWhichFilesMove) {
  auto lines = RenderProgress(HubPull(), 120, SteadyTime{});
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[1].rfind("  2/5 Meta-Llama-3.1-70B-Instruct-Q4_K_M-00002-of-00005.gguf", 0), 0u)
      << lines[1];
  EXPECT_NE(lines[1].find("66%"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("6.0/9.0 GiB"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("60.0 MiB/s"), std::string::npos) << lines[1];
  EXPECT_EQ(lines[2].rfind("  3/5 ", 0), 0u) << lines[2];
  // At 40 columns a file keeps its number, its name's start and its extension.
  auto narrow = RenderProgress(HubPull(), 40, SteadyTime{});
  ASSERT_EQ(narrow.size(), 3u);
  EXPECT_EQ(narrow[1].rfind("  2/5 Meta-", 0), 0u) << narrow[1];
  EXPECT_NE(narrow[1].find(".gguf "), std::string::npos) << narrow[1];
  EXPECT_NE(narrow[1].find(" 66%"), std::string::npos) << narrow[1];
}

TEST(ProgressRenderTest, TheEtaIsTheWholeJobs) {
  // 42 GiB in all, 22 GiB done, 100 MiB/s over both moving files: 20 GiB left = 204.8 s,
  // not what either file alone has left.
  auto lines = RenderProgress(HubPull(), 200, SteadyTime{});
  EXPECT_NE(lines[0].find("ETA 3:25"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("22.0/42.0 GiB"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(" 52% "), std::string::npos) << lines[0];
}

TEST(ProgressRenderTest, StagesAndUnknownSizes) {
  const SteadyTime start{};
  ProgressSnapshot v = OneFile("w:latest", kGiB, kGiB, JobState::kInstalling);
  EXPECT_NE(RenderProgress(v, 80, start)[0].find("installing"), std::string::npos);
  v.export_file = true;  // -o: nothing is installed
  EXPECT_EQ(RenderProgress(v, 80, start)[0].find("installing"), std::string::npos);
  EXPECT_EQ(RenderPlainLine(v, start).find("installing"), std::string::npos);
  ProgressSnapshot u = OneFile("w:latest", 3 * kMiB, std::nullopt);
  u.start = start;
  std::string line = RenderProgress(u, 80, start + std::chrono::seconds(14))[0];
  EXPECT_NE(line.find("3.0 MiB"), std::string::npos) << line;
  EXPECT_NE(line.find("0:14 elapsed"), std::string::npos) << line;
  EXPECT_NE(RenderProgress(OneFile("w", 0, std::nullopt, JobState::kResolving), 80, start)[0].find(
                "resolving"),
            std::string::npos);
}

TEST(ProgressRenderTest, PlainLinesHaveNoControlCodesAndNameTheMovingFiles) {
  std::string line = RenderPlainLine(HubPull(), SteadyTime{});
  EXPECT_EQ(line.rfind(std::string(kHubName) + ": 52.4% 22.0 GiB/42.0 GiB 100.0 MiB/s ETA 3:25", 0),
            0u)
      << line;
  EXPECT_NE(line.find("; 2/5 Meta-Llama-3.1-70B-Instruct-Q4_K_M-00002-of-00005.gguf 66%, 3/5 "),
            std::string::npos)
      << line;
  for (char c : line) EXPECT_GE(static_cast<unsigned char>(c), 0x20) << line;
  EXPECT_EQ(FormatFileStart("m", HubPull().progress, 2),
            "m: file 3/5 Meta-Llama-3.1-70B-Instruct-Q4_K_M-00003-of-00005.gguf (9.0 GiB)");
}

TEST(ProgressRenderTest, ShortensInTheMiddleByColumns) {
  EXPECT_EQ(ShortenMiddle("abcdefghij", 10), "abcdefghij");
  EXPECT_EQ(ShortenMiddle("abcdefghij", 7), "abc\u2026hij");
  EXPECT_EQ(ShortenMiddle("abcdefghij", 1), "\u2026");
  EXPECT_EQ(DisplayWidth("abc\u2026hij"), 7u);
  EXPECT_EQ(DisplayWidth(ShortenMiddle("\u00e9t\u00e9-\u00e9t\u00e9-\u00e9t\u00e9", 6)), 6u);
}

TEST(ProgressSummaryTest, TellsTheTruth) {
  // One file, all fetched now: its digest is the model's.
  PullSummary one{"w:latest", 1, 100 * kMiB, 0, 0, 2.0, "abc"};
  EXPECT_EQ(FormatSummary(one), "w:latest: 100.0 MiB downloaded in 2.0 s (50.0 MiB/s), sha256 abc");
  // Resumed: the speed counts only what came in this run.
  PullSummary resumed{"saved /tmp/w", 1, 100 * kMiB, 0, 60 * kMiB, 2.0, "abc"};
  EXPECT_EQ(FormatSummary(resumed),
            "saved /tmp/w: 100.0 MiB: 40.0 MiB downloaded in 2.0 s (20.0 MiB/s), resumed from "
            "60.0 MiB already on disk, sha256 abc");
  // Several files: no one file's digest; reused bytes are reused, not a speed.
  PullSummary many{"m:latest", 5, 42 * kGiB, 12 * kGiB, 0, 312, "abc"};
  EXPECT_EQ(FormatSummary(many),
            "m:latest: 5 files, 42.0 GiB: 30.0 GiB downloaded in 5:12 (98.5 MiB/s), 12.0 GiB "
            "reused from the store");
  PullSummary none{"m:latest", 5, 42 * kGiB, 42 * kGiB, 0, 0.1, ""};
  EXPECT_EQ(FormatSummary(none),
            "m:latest: 5 files, 42.0 GiB, all reused from the store, nothing downloaded");
}

TEST(ProgressSummaryTest, SummarizesTheLastEvent) {
  Progress last = HubPull().progress;
  for (auto& f : last.files) f.done = *f.total, f.state = JobState::kCompleted;
  last.files[1].resumed = 2 * kGiB;
  PullSummary s = SummarizeProgress("m", last, 1, 10, "abc");
  EXPECT_EQ(s.files, 5u);
  EXPECT_EQ(s.total, 42 * kGiB);
  EXPECT_EQ(s.reused, 6 * kGiB);
  EXPECT_EQ(s.resumed, 2 * kGiB);
  EXPECT_EQ(FormatSummary(s).find("sha256"), std::string::npos);
}

TEST(ProgressNoticeTest, RetriesAndWaits) {
  EXPECT_EQ(
      FormatRetry("m:latest", {"w.bin", "connection refused", std::chrono::milliseconds(2000), 2}),
      "m:latest: w.bin: connection refused, retrying in 2 s (attempt 2)");
  EXPECT_EQ(FormatRetry("/tmp/w", {"", "HTTP 503", std::chrono::milliseconds(250), 3}),
            "/tmp/w: HTTP 503, retrying in 0.2 s (attempt 3)");
  EXPECT_EQ(FormatWaiting("m:latest", {4242, false, "w.bin"}),
            "m:latest: waiting for another modeld (pid 4242) downloading w.bin");
  EXPECT_EQ(FormatWaiting("m:latest", {0, false, "m:latest"}),
            "m:latest: waiting for another modeld downloading m:latest");
}

// A terminal as far as the printer uses one: printable text, \r, \n (the tty's ONLCR makes
// it a new line), ESC[nA (up), ESC[J (erase to the end of the screen), ESC[K.
class FakeTerminal {
 public:
  explicit FakeTerminal(int width) : width_(width) {}
  void Feed(const std::string& out) {
    for (size_t i = 0; i < out.size(); ++i) {
      char c = out[i];
      if (c == '\r') {
        col_ = 0;
      } else if (c == '\n') {
        ++row_, col_ = 0;
      } else if (c == '\033') {
        ASSERT_EQ(out[i + 1], '[');
        size_t j = i + 2;
        int n = 0;
        while (std::isdigit(static_cast<unsigned char>(out[j]))) n = n * 10 + (out[j++] - '0');
        if (out[j] == 'A') {
          row_ -= std::max(n, 1);
          ASSERT_GE(row_, 0);
        } else if (out[j] == 'J') {
          Row().resize(std::min(Row().size(), static_cast<size_t>(col_)));
          screen_.resize(row_ + 1);
        } else if (out[j] == 'K') {
          Row().resize(std::min(Row().size(), static_cast<size_t>(col_)));
        } else {
          FAIL() << "unknown escape " << out[j];
        }
        i = j;
      } else {
        if ((static_cast<unsigned char>(c) & 0xC0) == 0x80) {  // a UTF-8 continuation byte
          Row().back() += c;
          continue;
        }
        ASSERT_LT(col_, width_ - 1) << "a line reached the last column and would wrap";
        if (Row().size() < static_cast<size_t>(col_) + 1) Row().resize(col_ + 1, " ");
        Row()[col_++] = std::string(1, c);
      }
    }
  }
  std::vector<std::string> Screen() const {
    std::vector<std::string> out;
    for (const auto& r : screen_) {
      std::string line;
      for (const auto& cell : r) line += cell;
      out.push_back(line);
    }
    while (!out.empty() && out.back().empty()) out.pop_back();
    return out;
  }

 private:
  std::vector<std::string>& Row() {
    if (screen_.size() <= static_cast<size_t>(row_)) screen_.resize(row_ + 1);
    return screen_[row_];
  }
  int width_;
  int row_ = 0, col_ = 0;
  std::vector<std::vector<std::string>> screen_;  // cells (a UTF-8 sequence each)
};

std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST(ProgressPrinterTest, RedrawsInPlaceLeavingNoLineBehind) {
  log::Init();
  int width = 60;
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressPrinter printer(f, /*tty=*/true, kHubName, false, [&] { return width; });
    Progress p = HubPull().progress;
    printer.Update(p);  // the model's line and two files
    // A third file starts: four lines now.
    p.files[3].state = JobState::kDownloading;
    p.files[3].done = kGiB;
    printer.Update(p);
    // A log line and a retry notice go above the block, not into it.
    log::Warn("a log line in between");
    Progress retry = p;
    retry.retry =
        service::RetryNotice{"a.gguf", "connection refused", std::chrono::milliseconds(2000), 2};
    printer.Update(retry);
    // Two files finish: two lines; the terminal narrows.
    p.files[1].state = p.files[2].state = JobState::kCompleted;
    width = 40;
    printer.Update(p);
    FakeTerminal term(200);
    term.Feed(ReadAll(f));
    auto screen = term.Screen();
    ASSERT_EQ(screen.size(), 4u) << ::testing::PrintToString(screen);
    EXPECT_NE(screen[0].find("a log line in between"), std::string::npos) << screen[0];
    EXPECT_EQ(screen[1],
              std::string(kHubName) + ": a.gguf: connection refused, retrying in 2 s (attempt 2)");
    EXPECT_EQ(screen[2].rfind("bartowski", 0), 0u) << screen[2];
    EXPECT_EQ(screen[3].rfind("  4/5 ", 0), 0u) << screen[3];
    for (const auto& line : {screen[2], screen[3]}) EXPECT_LT(DisplayWidth(line), 40u) << line;
    printer.Done();  // the block goes; what was said above stays
    term = FakeTerminal(200);
    term.Feed(ReadAll(f));
    EXPECT_EQ(term.Screen().size(), 2u) << ::testing::PrintToString(term.Screen());
  }
  // The log is stderr's again.
  std::fclose(f);
}

TEST(ProgressPrinterTest, PlainModeWritesLinesWithoutControlCodes) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressPrinter printer(f, /*tty=*/false, "m:latest", false, [] { return 80; });
    Progress p = HubPull().progress;
    printer.Update(p);
    Progress retry = p;
    retry.retry = service::RetryNotice{"a.gguf", "HTTP 503", std::chrono::milliseconds(500), 2};
    printer.Update(retry);
    printer.Done();
  }
  std::string out = ReadAll(f);
  std::fclose(f);
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_EQ(out.find('\033'), std::string::npos) << out;
  EXPECT_NE(out.find("m:latest: file 2/5 Meta-Llama-3.1-70B-Instruct-Q4_K_M-00002-of-00005.gguf "
                     "(9.0 GiB)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("m:latest: 52.4% 22.0 GiB/42.0 GiB 100.0 MiB/s ETA 3:25"), std::string::npos)
      << out;
  EXPECT_NE(out.find("m:latest: a.gguf: HTTP 503, retrying in 0.5 s (attempt 2)\n"),
            std::string::npos)
      << out;
}

TEST(ProgressPrinterTest, PlainLinesComeOnceASecondAndRepeatOnlyNowAndThen) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  SteadyTime now{};
  {
    ProgressPrinter printer(
        f, /*tty=*/false, "w", false, [] { return 80; }, [&] { return now; });
    ProgressSnapshot s = OneFile("w", 0, 100 * kMiB);
    Progress p = s.progress;
    printer.Update(p);  // the first: a line
    for (int tenth = 1; tenth <= 9; ++tenth) {
      now += std::chrono::milliseconds(100);
      p.done += kMiB;
      printer.Update(p);  // within the second: none
    }
    now += std::chrono::milliseconds(100);
    printer.Update(p);  // a second on, changed: a line
    // Waiting out retries: the same words every second are said again only after 30 s.
    for (int sec = 1; sec <= 40; ++sec) {
      now += std::chrono::seconds(1);
      printer.Update(p);
    }
    p.state = JobState::kVerifying;  // a new stage: at once
    printer.Update(p);
  }
  std::string out = ReadAll(f);
  std::fclose(f);
  std::vector<std::string> lines;
  for (size_t at = 0, nl; (nl = out.find('\n', at)) != std::string::npos; at = nl + 1) {
    lines.push_back(out.substr(at, nl - at));
  }
  ASSERT_EQ(lines.size(), 4u) << out;
  EXPECT_EQ(lines[0].rfind("w: 0.0% 0 B/100.0 MiB", 0), 0u) << lines[0];
  EXPECT_EQ(lines[1].rfind("w: 9.0% 9.0 MiB/100.0 MiB", 0), 0u) << lines[1];
  EXPECT_EQ(lines[2], lines[1]);  // 30 s later, unchanged: once in the 40 s
  EXPECT_NE(lines[3].find("verifying"), std::string::npos) << lines[3];
}

TEST(ProgressTest, Durations) {
  EXPECT_EQ(FormatDuration(5), "0:05");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-1), "--:--");
  EXPECT_EQ(FormatRate(100.0 * kMiB), "100.0 MiB/s");
}

TEST(ExitCodeTest, OneCodePerFailureKind) {
  EXPECT_EQ(ExitCodeFor(Status::OK()), 0);
  EXPECT_EQ(ExitCodeFor(Status::NotFound("x")), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(Status::Corrupt("x")), kExitChecksum);
  EXPECT_EQ(ExitCodeFor(Status::NoSpace("x")), kExitNoSpace);
  EXPECT_EQ(ExitCodeFor(Status::Unavailable("x")), kExitNetwork);
  EXPECT_EQ(ExitCodeFor(Status::FailedPrecondition("x")), kExitBusy);
}

}  // namespace
}  // namespace modeld::cli
