// What kill -9 costs a download (issue 17): `modeld pull` killed at random points and run
// again resumes from its journal and fetches again only about what its connections had
// in hand, not whole pieces or the seconds since a synced checkpoint. bench/crash_loss.sh
// measures the figure at 32 and 128 MB/s.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <random>
#include <vector>

#include "engine_harness.h"
#include "origin.h"
#include "subprocess.h"

namespace modeld::testing {
namespace {

TEST(CrashLossTest, KilledPullsRefetchLittle) {
  TestOrigin origin;
  ScratchDir dir;
  constexpr uint64_t kSize = 64 * kMiB;
  std::string data = RandomBytes(kSize, 41);
  // 16 connections at 1 MiB/s each: each run is seconds long, the kills land mid-file.
  origin.Put("/big.bin", {.content = data, .rate = kMiB});
  uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  // Three kills, each once the origin has sent a random 10-90 % of the file in all.
  std::vector<uint64_t> points;
  for (int i = 0; i < 3; ++i) points.push_back(kSize / 10 + rng() % (kSize * 8 / 10));
  std::sort(points.begin(), points.end());
  std::vector<std::string> pull = {
      "--data-dir", (dir / "data").string(), "pull",   "-q",      origin.Url("/big.bin"),
      "--sha256",   Sha256Hex(data),         "--name", "crash:v1"};
  for (uint64_t point : points) {
    Child c(pull, dir.path());
    ASSERT_TRUE(origin.WaitForBodyBytes("/big.bin", point))
        << "sent " << origin.BodyBytes("/big.bin") << " of " << point << "; " << c.Stderr();
    c.Signal(SIGKILL);
    c.Wait();
  }
  std::string err;
  ASSERT_EQ(RunModeld(pull, dir.path(), nullptr, &err), 0) << err;
  EXPECT_EQ(FileSha256(dir / "data" / "models" / "crash" / "v1" / "big.bin"), Sha256Hex(data));
  // Lost per kill: what the connections had buffered (10 ms) or recorded in no
  // checkpoint yet (5 ms), and what was in flight; about 1 % of the file at this rate.
  // Whole pieces (4 MiB) or a synced checkpoint a second would cost far more.
  uint64_t refetched = origin.BodyBytes("/big.bin") - kSize;
  EXPECT_LT(refetched, points.size() * kSize * 3 / 100)
      << "fetched again after " << points.size() << " kills: " << refetched << " bytes";
}

}  // namespace
}  // namespace modeld::testing
