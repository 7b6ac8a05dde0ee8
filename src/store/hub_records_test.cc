// The Hub mirror's records (store.h, "Hub mirror") over a real registry: refs, listings
// and mirror blobs round trip and survive a reopen; gc keeps a blob the mirror holds; a
// file lock works in a data dir whose locks/ directory is missing. On both registries.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "core/checksum.h"
#include "registries.h"
#include "store/store.h"

namespace modeld::store {
namespace {

namespace fs = std::filesystem;

class HubRecordsTest : public ::testing::TestWithParam<testing_pg::Registry> {
 protected:
  void SetUp() override {
    MODELD_STORE_OPTIONS_OR_SKIP(root_, opts_, "modeld_hubrec_");
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }
  void Reopen() {
    store_.reset();
    auto s = Store::Open(opts_);
    ASSERT_TRUE(s.has_value()) << s.error().ToString();
    store_ = std::move(s.value());
  }
  FileEntry Blob(const std::string& content) {
    fs::path tmp = root_ / "tmp";
    std::ofstream(tmp, std::ios::binary) << content;
    std::string sha = HashHex(HashAlgorithm::kSha256, content);
    EXPECT_TRUE(store_->AdoptBlob(tmp, sha).ok());
    return {"w.bin", content.size(), sha};
  }
  fs::path root_;
  StoreOptions opts_;
  std::unique_ptr<Store> store_;
};

TEST_P(HubRecordsTest, RefsAndListingsRoundTripAndSurviveAReopen) {
  EXPECT_FALSE(store_->GetHubRef("models", "org/a", "main")->has_value());
  ASSERT_TRUE(store_->PutHubRef("models", "org/a", "main", {"c1", 100}).ok());
  ASSERT_TRUE(store_->PutHubRef("models", "org/a", "main", {"c2", 200}).ok());  // moved on
  ASSERT_TRUE(store_->PutHubListing("models", "org/a", "c2", "{\"x\":1}").ok());
  Reopen();
  auto ref = store_->GetHubRef("models", "org/a", "main");
  ASSERT_TRUE(ref.has_value() && ref->has_value());
  EXPECT_EQ((*ref)->commit, "c2");
  EXPECT_EQ((*ref)->checked_at_ms, 200);
  EXPECT_FALSE(store_->GetHubRef("datasets", "org/a", "main")->has_value()) << "kinds apart";
  EXPECT_EQ(**store_->GetHubListing("models", "org/a", "c2"), "{\"x\":1}");
  EXPECT_FALSE(store_->GetHubListing("models", "org/a", "c1")->has_value());
}

TEST_P(HubRecordsTest, GcKeepsAMirrorBlobAndForgetsItWhenItsBytesGo) {
  FileEntry kept = Blob("mirrored bytes");
  FileEntry orphan = Blob("nobody's bytes");
  ASSERT_TRUE(store_->KeepMirrorBlob("etag-1", kept).ok());
  auto found = store_->FindMirrorBlob("etag-1");
  ASSERT_TRUE(found.has_value() && found->has_value());
  EXPECT_EQ((*found)->sha256, kept.sha256);
  auto gc = store_->Gc(std::chrono::seconds(0));
  ASSERT_TRUE(gc.has_value()) << gc.error().ToString();
  EXPECT_TRUE(fs::exists(store_->BlobPath(kept.sha256))) << "gc keeps what the mirror holds";
  EXPECT_FALSE(fs::exists(store_->BlobPath(orphan.sha256)));
  fs::remove(store_->BlobPath(kept.sha256));
  EXPECT_FALSE(store_->FindMirrorBlob("etag-1")->has_value()) << "found only while present";
}

TEST_P(HubRecordsTest, LocksWorkWhenTheLocksDirectoryIsMissing) {
  fs::remove_all(opts_.data_dir / "locks");
  auto first = store_->TryLock("mirror-x");
  ASSERT_TRUE(first.has_value()) << first.error().ToString();
  EXPECT_TRUE(first->has_value());
  auto second = store_->TryLock("mirror-x");
  ASSERT_TRUE(second.has_value());
  EXPECT_FALSE(second->has_value()) << "held: a second holder is told to wait";
  first->reset();
  auto third = store_->TryLock("mirror-x");
  ASSERT_TRUE(third.has_value());
  EXPECT_TRUE(third->has_value());
}

INSTANTIATE_TEST_SUITE_P(Registries, HubRecordsTest, MODELD_REGISTRIES);

}  // namespace
}  // namespace modeld::store
