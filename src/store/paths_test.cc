#include "store/paths.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace modeld::store {
namespace {

namespace fs = std::filesystem;

const fs::path kData = "/srv/modeld";

// The names are a format: data dirs written by earlier modelds use exactly these.
TEST(PathsTest, NamesMatchTheDocumentedLayout) {
  EXPECT_EQ(RegistryPath(kData), "/srv/modeld/registry.sqlite");
  std::string hex(64, 'a');
  EXPECT_EQ(BlobDir(kData), "/srv/modeld/blobs/sha256");
  EXPECT_EQ(BlobPath(kData, hex), "/srv/modeld/blobs/sha256/" + hex);
  EXPECT_EQ(BlobTempPath(kData, hex, ".hub0123"), "/srv/modeld/blobs/sha256/" + hex + ".hub0123");
  EXPECT_EQ(ContentRoot(kData), "/srv/modeld/content");
  EXPECT_EQ(ContentDir(kData, "c0ffee"), "/srv/modeld/content/c0ffee");
  EXPECT_EQ(ModelsRoot(kData), "/srv/modeld/models");
  EXPECT_EQ(ModelPath(kData, {"org/tiny", "v1"}), "/srv/modeld/models/org/tiny/v1");
  EXPECT_EQ(PartialRoot(kData), "/srv/modeld/partial");
  EXPECT_EQ(LockRoot(kData), "/srv/modeld/locks");
  EXPECT_EQ(RemovingRoot(kData), "/srv/modeld/removing");
  EXPECT_EQ(RemovalMarker(kData, "c0ffee"), "/srv/modeld/removing/c0ffee");
}

TEST(PathsTest, DownloadsOfAKeyShareOneDigestForTheirPartialDirAndLock) {
  const std::string key = "https://example.org/w.bin";
  EXPECT_EQ(KeyDigest(key), "860d5bc455cdfc65b36803abb31cfd78");  // sha256(key)[0:32]
  EXPECT_EQ(PartialDir(kData, key), "/srv/modeld/partial/860d5bc455cdfc65b36803abb31cfd78");
  EXPECT_EQ(LockPath(kData, key), "/srv/modeld/locks/860d5bc455cdfc65b36803abb31cfd78.lock");
  // gc finds a partial dir by listing partial/ and must reach the same lock from its name.
  EXPECT_EQ(LockPathForDigest(kData, PartialDir(kData, key).filename().string()),
            LockPath(kData, key));
  EXPECT_NE(KeyDigest(key), KeyDigest(key + "?"));
}

TEST(PathsTest, ModelLinksPointAtTheirContentRelatively) {
  for (const std::string name : {"resnet50", "org/tiny", "a/b/c", "a/b/c/d"}) {
    ModelRef ref{name, "v1.0"};
    fs::path target = ContentLinkTarget(ref, "c0ffee");
    EXPECT_TRUE(target.is_relative()) << target;
    // Resolved from the link's directory, it lands on the content dir, in any data dir.
    for (const fs::path& data : {kData, fs::path("/x"), fs::path("/a/much/deeper/data dir")}) {
      EXPECT_EQ((ModelPath(data, ref).parent_path() / target).lexically_normal(),
                ContentDir(data, "c0ffee"))
          << name << " in " << data;
    }
  }
  EXPECT_EQ(ContentLinkTarget({"m", "v1"}, "c0ffee"), "../../content/c0ffee");
  EXPECT_EQ(ContentLinkTarget({"org/m", "v1"}, "c0ffee"), "../../../content/c0ffee");
}

TEST(PathsTest, OpenMakesEveryDirectoryTheNamesLiveIn) {
  auto dirs = DataSubdirs(kData);
  for (const fs::path& d :
       {BlobDir(kData), ContentRoot(kData), ModelsRoot(kData), PartialRoot(kData), LockRoot(kData),
        RemovingRoot(kData), BlobPath(kData, "x").parent_path(),
        RemovalMarker(kData, "x").parent_path(), LockPath(kData, "k").parent_path()}) {
    EXPECT_NE(std::find(dirs.begin(), dirs.end(), d), dirs.end()) << d;
  }
  EXPECT_EQ(dirs.size(), 6u);
}

}  // namespace
}  // namespace modeld::store
