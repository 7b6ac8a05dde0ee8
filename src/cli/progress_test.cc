#include "cli/progress.h"

#include <gtest/gtest.h>

#include "cli/exit_codes.h"

namespace modeld::cli {
namespace {

TEST(ProgressTest, FormatsKnownTotal) {
  service::Progress ev;
  ev.state = service::JobState::kDownloading;
  ev.done = 512ull << 20;
  ev.total = 1024ull << 20;
  ev.bytes_per_second = 100e6;
  ev.eta_seconds = 75;
  EXPECT_EQ(ProgressPrinter::FormatLine(ev, 10),
            " 50.0% [#####-----] 512.0 MiB/1.0 GiB  100.0 MB/s  ETA 1:15");
  ev.state = service::JobState::kVerifying;
  EXPECT_NE(ProgressPrinter::FormatLine(ev, 0).find("verifying"), std::string::npos);
}

TEST(ProgressTest, FormatsUnknownTotal) {
  service::Progress ev;
  ev.state = service::JobState::kDownloading;
  ev.done = 2048;
  EXPECT_EQ(ProgressPrinter::FormatLine(ev, 10), "2.0 KiB  0.0 MB/s");
}

TEST(ProgressTest, Durations) {
  EXPECT_EQ(FormatDuration(5), "0:05");
  EXPECT_EQ(FormatDuration(3723), "1:02:03");
  EXPECT_EQ(FormatDuration(-1), "--:--");
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
