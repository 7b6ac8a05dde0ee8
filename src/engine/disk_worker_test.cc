#include "engine/disk_worker.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/fs.h"

namespace modeld::engine {
namespace {

namespace fs = std::filesystem;

class DiskWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("modeld_disk_worker_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    part_ = dir_ / "f.part";
    journal_ = dir_ / "f.part.journal";
    fd_.Reset(::open(part_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_TRUE(fd_.valid());
    std::string data(kBytes, 'x');
    ASSERT_EQ(::pwrite(fd_.get(), data.data(), data.size(), 0), static_cast<ssize_t>(kBytes));
  }
  void TearDown() override { fs::remove_all(dir_); }

  static JournalState State() {
    JournalState s;
    s.url = "http://127.0.0.1/x";
    s.size = 4 * kBytes;
    s.written = {{0, kBytes}};
    return s;
  }
  // The journal's last record as written, cached ranges not folded in.
  std::optional<JournalState> Raw() {
    std::ifstream in(journal_, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    auto r = Journal::Decode(bytes, "test");
    return r.has_value() ? *r : std::nullopt;
  }

  static constexpr uint64_t kBytes = 1 << 20;
  fs::path dir_;
  fs::path part_, journal_;
  UniqueFd fd_;
};

// A checkpoint is in the journal at once as cached in this boot (what kill -9 needs),
// and made durable (data synced, then a record naming it written) when the worker stops.
TEST_F(DiskWorkerTest, CheckpointIsRecordedAtOnceAndMadeDurableOnStop) {
  {
    DiskWorker w(fd_.get(), part_, journal_, std::nullopt, std::nullopt,
                 DiskWorkerOptions{.durable_interval = std::chrono::hours(1)});
    w.Checkpoint(State());
    // No sleep decides this: the record is awaited (the data sync is an hour away).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::optional<JournalState> raw;
    while (!(raw = Raw()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(raw.has_value());
    EXPECT_TRUE(raw->written.empty()) << "not synced yet: nothing durable is claimed";
    EXPECT_EQ(raw->cached, (std::vector<ByteRange>{{0, kBytes}}));
    EXPECT_EQ(raw->boot_id, CurrentBootId());
    auto loaded = Journal::Load(journal_);
    ASSERT_TRUE(loaded.has_value() && loaded->has_value());
    EXPECT_EQ((*loaded)->written, (std::vector<ByteRange>{{0, kBytes}})) << "same boot";
  }
  auto raw = Raw();
  ASSERT_TRUE(raw.has_value());
  EXPECT_EQ(raw->written, (std::vector<ByteRange>{{0, kBytes}}));
  EXPECT_TRUE(raw->cached.empty());
}

TEST_F(DiskWorkerTest, AbandonedWorkerWritesNoJournal) {
  {
    DiskWorker w(fd_.get(), part_, journal_, std::nullopt, std::nullopt,
                 DiskWorkerOptions{.durable_interval = std::chrono::hours(1)});
    w.Abandon();
    w.Checkpoint(State());
  }
  EXPECT_FALSE(fs::exists(journal_));
}

}  // namespace
}  // namespace modeld::engine
