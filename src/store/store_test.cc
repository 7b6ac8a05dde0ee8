#include "store/store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "core/checksum.h"
#include "registries.h"

namespace modeld::store {
namespace {

namespace fs = std::filesystem;

// Overwrites bytes of |file| in place (same inode and size); blobs are read-only, so it is
// made writable first. With |keep_mtime| the modification time is put back (bit rot).
void CorruptInPlace(const fs::path& file, bool keep_mtime = false) {
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "#", 1, 0), 1);
  ::close(fd);
  ::chmod(file.c_str(), st.st_mode & 07777);
  if (keep_mtime) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, file.c_str(), times, 0), 0);
  }
}

class StoreTest : public ::testing::TestWithParam<testing_pg::Registry> {
 protected:
  void SetUp() override {
    MODELD_STORE_OPTIONS_OR_SKIP(root_, opts_, "modeld_store_");
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
  // Puts |content| into the blob store and returns its entry under |path|.
  FileEntry Blob(const std::string& path, const std::string& content) {
    fs::path tmp = root_ / ("tmp" + std::to_string(counter_++));
    std::ofstream(tmp, std::ios::binary) << content;
    std::string sha = HashHex(HashAlgorithm::kSha256, content);
    EXPECT_TRUE(store_->AdoptBlob(tmp, sha).ok());
    return {path, content.size(), sha};
  }
  InstallSpec Spec(const std::string& name, const std::string& version,
                   std::vector<FileEntry> files) {
    InstallSpec s;
    s.ref = {name, version};
    s.source = "test";
    s.description = "a test model";
    s.tags = {"nlp", "small"};
    s.metadata = {{"author", "tests"}};
    s.files = std::move(files);
    return s;
  }
  static std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  size_t BlobCount() {
    size_t n = 0;
    for (auto& e : fs::directory_iterator(opts_.data_dir / "blobs" / "sha256"))
      n += e.is_regular_file();
    return n;
  }

  fs::path root_;
  StoreOptions opts_;
  std::unique_ptr<Store> store_;
  int counter_ = 0;
  std::string want_status_;
};

TEST_P(StoreTest, InstallListInfoRemove) {
  auto a = Blob("model.bin", "weights");
  auto b = Blob("config/config.json", "{\"x\":1}");
  auto m = store_->Install(Spec("org/tiny", "v1", {a, b}));
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->status, "available");
  EXPECT_EQ(m->size, 7u + 7u);
  EXPECT_EQ(Read(m->path / "model.bin"), "weights");
  EXPECT_EQ(Read(m->path / "config" / "config.json"), "{\"x\":1}");
  EXPECT_EQ(m->path, opts_.data_dir / "models" / "org" / "tiny" / "v1");

  auto list = store_->List();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].tags, (std::vector<std::string>{"nlp", "small"}));
  EXPECT_EQ((*list)[0].metadata["author"], "tests");

  auto got = store_->Get({"org/tiny", "v1"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->files.size(), 2u);
  EXPECT_EQ(store_->Get({"org/tiny", "v2"}).error().code(), Status::Code::kNotFound);

  auto removed = store_->Remove("org/tiny", "v1");
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->removed.size(), 1u);
  EXPECT_FALSE(fs::exists(m->path));
  EXPECT_FALSE(fs::exists(opts_.data_dir / "models" / "org")) << "empty parents pruned";
  EXPECT_EQ(BlobCount(), 0u) << "blobs used by nothing else are freed";
  EXPECT_EQ(store_->Remove("org/tiny", "v1").error().code(), Status::Code::kNotFound);
}

// The inspection (what is inside the model) is written with the install, read whole by Get
// and Versions and without the GGUF key/values by listings, set later for a model
// installed without one, and kept apart from the user's metadata.
TEST_P(StoreTest, InspectionIsStoredBesideTheUsersMetadata) {
  auto a = Blob("m.gguf", "weights");
  InstallSpec spec = Spec("insp", "v1", {a});
  spec.inspection =
      R"({"version":1,"format":"gguf","architecture":"llama","gguf_metadata":{"k":1}})";
  ASSERT_TRUE(store_->Install(spec).has_value());
  auto got = store_->Get({"insp", "v1"});
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(nlohmann::json::parse(got->inspection), nlohmann::json::parse(spec.inspection));
  EXPECT_GT(got->inspected_at, 0);
  EXPECT_EQ(got->metadata["author"], "tests");  // the user's, untouched

  auto list = store_->List();
  ASSERT_TRUE(list.has_value());
  ASSERT_EQ(list->size(), 1u);
  auto listed = nlohmann::json::parse((*list)[0].inspection);
  EXPECT_EQ(listed["architecture"], "llama");
  EXPECT_FALSE(listed.contains("gguf_metadata"));
  std::string scanned;
  ASSERT_TRUE(store_->ScanModels([&](const ModelInfo& m) { scanned = m.inspection; }).ok());
  EXPECT_EQ(nlohmann::json::parse(scanned), listed);

  // Installed without one (as before migration 5): empty, until set.
  ASSERT_TRUE(store_->Install(Spec("plain", "v1", {a})).has_value());
  auto plain = store_->Get({"plain", "v1"});
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->inspection, "");
  EXPECT_EQ(plain->inspected_at, 0);
  // What is left to inspect: none, or one from an older reader (its "version" is below).
  auto to_inspect = store_->ModelsToInspect(1);
  ASSERT_TRUE(to_inspect.has_value()) << to_inspect.error().ToString();
  EXPECT_EQ(*to_inspect, (std::vector<ModelRef>{{"plain", "v1"}}));
  to_inspect = store_->ModelsToInspect(2);
  ASSERT_TRUE(to_inspect.has_value());
  EXPECT_EQ(to_inspect->size(), 2u) << "insp:v1 was read by version 1";
  ASSERT_TRUE(store_->SetInspection({"plain", "v1"}, R"({"error":"unreadable"})").ok());
  plain = store_->Get({"plain", "v1"});
  EXPECT_EQ(nlohmann::json::parse(plain->inspection)["error"], "unreadable");
  EXPECT_GT(plain->inspected_at, 0);
  // Not valid JSON (written by hand): listings pass it on as it is instead of failing.
  ASSERT_TRUE(store_->SetInspection({"plain", "v1"}, "not json").ok());
  list = store_->List();
  ASSERT_TRUE(list.has_value()) << list.error().ToString();
  EXPECT_EQ((*list)[1].inspection, "not json");
  EXPECT_EQ(store_->SetInspection({"nope", "v1"}, "{}").code(), Status::Code::kNotFound);
  // A reinstall writes its own (here: none).
  ASSERT_TRUE(store_->Install(Spec("insp", "v1", {a})).has_value());
  EXPECT_EQ(store_->Get({"insp", "v1"})->inspection, "");
}

TEST_P(StoreTest, IdenticalFilesAreStoredOnce) {
  std::string big(1 << 20, 'w');
  auto shared = Blob("weights.bin", big);
  ASSERT_TRUE(store_->Install(Spec("a", "v1", {shared, Blob("a.txt", "a")})).has_value());
  ASSERT_TRUE(store_->Install(Spec("b", "v1", {shared, Blob("b.txt", "b")})).has_value());
  EXPECT_EQ(BlobCount(), 3u);
  struct stat st {};
  ASSERT_EQ(::stat(store_->BlobPath(shared.sha256).c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u) << "the blob and two hard links to it";
  auto cache = store_->Cache();
  ASSERT_TRUE(cache.has_value());
  EXPECT_EQ(cache->blob_bytes, big.size() + 2);
  EXPECT_EQ(cache->logical_bytes, 2 * big.size() + 2);

  ASSERT_TRUE(store_->Remove("a", "").has_value());
  EXPECT_TRUE(fs::exists(store_->BlobPath(shared.sha256))) << "still used by b";
  EXPECT_EQ(Read(opts_.data_dir / "models" / "b" / "v1" / "weights.bin"), big);
  ASSERT_TRUE(store_->Remove("b", "").has_value());
  EXPECT_EQ(BlobCount(), 0u);
}

TEST_P(StoreTest, RefusesBadInputAndMissingBlobs) {
  auto a = Blob("x", "x");
  EXPECT_EQ(store_->Install(Spec("../evil", "v1", {a})).error().code(),
            Status::Code::kInvalidArgument);
  a.path = "../../etc/passwd";
  EXPECT_EQ(store_->Install(Spec("ok", "v1", {a})).error().code(), Status::Code::kInvalidArgument);
  a.path = "x";
  FileEntry missing{"y", 3, std::string(64, 'a')};
  EXPECT_EQ(store_->Install(Spec("ok", "v1", {a, missing})).error().code(),
            Status::Code::kNotFound);
  EXPECT_EQ(store_->Install(Spec("ok", "v1", {a, a})).error().code(),
            Status::Code::kInvalidArgument);
  auto list = store_->List();
  ASSERT_TRUE(list.has_value());
  EXPECT_TRUE(list->empty()) << "nothing half-installed";
}

TEST_P(StoreTest, ReinstallReplacesAndGcFreesTheOldBlob) {
  auto v1 = Blob("model.bin", "old weights");
  ASSERT_TRUE(store_->Install(Spec("m", "latest", {v1})).has_value());
  auto v2 = Blob("model.bin", "new weights!");
  auto m = store_->Install(Spec("m", "latest", {v2}));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(Read(m->path / "model.bin"), "new weights!");
  size_t contents = 0;
  for (auto& e : fs::directory_iterator(opts_.data_dir / "content")) contents += e.is_directory();
  EXPECT_EQ(contents, 1u) << "the old version's directory is gone";
  auto gc = store_->Gc();
  ASSERT_TRUE(gc.has_value());
  EXPECT_EQ(gc->blobs_removed, 1u);
  EXPECT_FALSE(fs::exists(store_->BlobPath(v1.sha256)));
  EXPECT_TRUE(fs::exists(store_->BlobPath(v2.sha256)));
}

TEST_P(StoreTest, GcRemovesOrphansAndStalePartialsButNotLockedOnes) {
  Blob("orphan", "nobody uses me");
  fs::create_directories(opts_.data_dir / "content" / "deadbeef");
  fs::last_write_time(opts_.data_dir / "content" / "deadbeef",
                      fs::file_time_type::clock::now() - std::chrono::hours(1));
  fs::path stale = store_->PartialDir("http://x/stale");
  fs::path busy = store_->PartialDir("http://x/busy");
  fs::create_directories(stale);
  fs::create_directories(busy);
  std::ofstream(stale / "f.part") << std::string(1000, 'p');
  auto lock = store_->Lock("http://x/busy");
  ASSERT_TRUE(lock.has_value());
  auto gc = store_->Gc(std::chrono::seconds(0));
  ASSERT_TRUE(gc.has_value());
  EXPECT_EQ(gc->blobs_removed, 1u);
  EXPECT_EQ(gc->content_dirs_removed, 1u);
  EXPECT_EQ(gc->partials_removed, 1u);
  EXPECT_EQ(gc->partial_bytes, 1000u);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(busy)) << "a partial in use is kept";
}

TEST_P(StoreTest, VerifyMarksBrokenModelsAndRecovers) {
  auto a = Blob("model.bin", "0123456789");
  auto m = store_->Install(Spec("m", "v1", {a}));
  ASSERT_TRUE(m.has_value());
  fs::path file = m->path / "model.bin";
  // A user truncates the file (the hard link shares the blob, so copy-on-write it).
  fs::remove(file);
  std::ofstream(file) << "01234";
  auto v = store_->Verify(std::nullopt, false);
  ASSERT_TRUE(v.has_value());
  ASSERT_EQ(v->size(), 1u);
  EXPECT_FALSE((*v)[0].ok);
  EXPECT_NE((*v)[0].problems[0].find("size 5, want 10"), std::string::npos);
  EXPECT_EQ(store_->Get({"m", "v1"})->status, "broken");
  // Same size, other bytes: a size check cannot clear "broken"; the full hash sees why.
  fs::remove(file);
  std::ofstream(file) << "9876543210";
  EXPECT_FALSE((*store_->Verify(ModelRef{"m", "v1"}, false))[0].ok);
  EXPECT_FALSE((*store_->Verify(ModelRef{"m", "v1"}, true))[0].ok);
  // The right bytes back: a full check clears it.
  fs::remove(file);
  std::ofstream(file) << "0123456789";
  EXPECT_TRUE((*store_->Verify(ModelRef{"m", "v1"}, true))[0].ok);
  EXPECT_EQ(store_->Get({"m", "v1"})->status, "available");
  // Same size, other bytes in a new file: a stat sees it is not the file verified.
  fs::remove(file);
  std::ofstream(file) << "9876543210";
  EXPECT_FALSE((*store_->Verify(ModelRef{"m", "v1"}, false))[0].ok);
  fs::remove(file);
  std::ofstream(file) << "0123456789";
  EXPECT_TRUE((*store_->Verify(ModelRef{"m", "v1"}, true))[0].ok);
  // Same size, other bytes, same inode and mtime (bit rot), on a model known good: only a
  // full hash sees it.
  CorruptInPlace(file, /*keep_mtime=*/true);
  EXPECT_TRUE((*store_->Verify(ModelRef{"m", "v1"}, false))[0].ok);
  EXPECT_FALSE((*store_->Verify(ModelRef{"m", "v1"}, true))[0].ok);
  fs::remove(file);
  EXPECT_FALSE((*store_->Verify(ModelRef{"m", "v1"}, false))[0].ok);
  // Reinstalling repairs it.
  ASSERT_TRUE(store_->Install(Spec("m", "v1", {a})).has_value());
  EXPECT_TRUE((*store_->Verify(ModelRef{"m", "v1"}, true))[0].ok);
  EXPECT_EQ(store_->Get({"m", "v1"})->status, "available");
}

// kill -9 at each step of a re-install: afterwards the model is entirely the old
// version or entirely the new one, and its files match the registry byte for byte.
TEST_P(StoreTest, CrashDuringInstallLeavesOldOrNewNeverAMix) {
  auto old_a = Blob("a.bin", "old-a");
  auto old_b = Blob("b.bin", "old-b");
  ASSERT_TRUE(store_->Install(Spec("m", "v1", {old_a, old_b})).has_value());
  auto new_a = Blob("a.bin", "new-a!");
  auto new_c = Blob("c.bin", "new-c!");
  for (const char* point : {"content", "commit", "swap"}) {
    store_.reset();
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto s = Store::Open(opts_);
      if (!s.has_value()) ::_exit(2);
      Store::SetCrashPointForTest(point);
      (void)(*s)->Install(Spec("m", "v1", {new_a, new_c}));
      ::_exit(3);  // the crash point was not reached
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 86) << "crash point " << point;
    Reopen();
    auto m = store_->Get({"m", "v1"});
    ASSERT_TRUE(m.has_value());
    std::vector<FileEntry> old_files = {old_a, old_b}, new_files = {new_a, new_c};
    bool is_old = m->files == old_files, is_new = m->files == new_files;
    EXPECT_TRUE(is_old || is_new) << point;
    EXPECT_EQ(is_new, std::string(point) != "content") << point;
    auto v = store_->Verify(ModelRef{"m", "v1"}, true);
    ASSERT_TRUE(v.has_value());
    EXPECT_TRUE((*v)[0].ok) << point << ": "
                            << ((*v)[0].problems.empty() ? "" : (*v)[0].problems[0]);
    // Files of the other version are not visible at the model path.
    EXPECT_EQ(fs::exists(m->path / "b.bin"), is_old) << point;
    EXPECT_EQ(fs::exists(m->path / "c.bin"), is_new) << point;
    // Restore the old version for the next crash point.
    auto restored = store_->Install(Spec("m", "v1", {old_a, old_b}));
    ASSERT_TRUE(restored.has_value()) << point << ": " << restored.error().ToString();
  }
  ASSERT_TRUE(store_->Gc(std::chrono::seconds(0)).has_value());
}

// rm on a full disk deletes files before it deletes rows. Whatever the moment it dies
// at, the model is never "available" without its files: it reads as broken (here in a
// store opened before the crash, as a server's is), and the next Open finishes it.
TEST_P(StoreTest, CrashDuringRemoveNeverLeavesAModelAvailableWithoutItsFiles) {
  auto shared = Blob("shared.bin", "m and other use this");
  ASSERT_TRUE(store_->Install(Spec("other", "v1", {shared})).has_value());
  for (const char* point : {"remove-marked", "remove-freed"}) {
    auto own = Blob("own.bin", "only m uses this");
    ASSERT_TRUE(store_->Install(Spec("m", "v1", {own, shared})).has_value()) << point;
    store_.reset();  // no connection across fork()
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      char c;
      if (::read(go[0], &c, 1) != 1) ::_exit(2);
      auto s = Store::Open(opts_);
      if (!s.has_value()) ::_exit(2);
      Store::SetCrashPointForTest(point);
      (void)(*s)->Remove("m", "v1");
      ::_exit(3);  // the crash point was not reached
    }
    Reopen();  // open before the crash, like a server
    ASSERT_EQ(::write(go[1], "g", 1), 1);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(go[0]);
    ::close(go[1]);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 86) << "crash point " << point;

    auto m = store_->Get({"m", "v1"});
    ASSERT_TRUE(m.has_value()) << point;
    EXPECT_EQ(m->status, "broken") << point;
    auto listed = store_->List();
    ASSERT_TRUE(listed.has_value());
    for (const auto& l : *listed) {
      EXPECT_EQ(l.status, l.ref.name == "m" ? "broken" : "available") << point;
    }
    auto v = store_->Verify(ModelRef{"m", "v1"}, false);
    ASSERT_TRUE(v.has_value());
    ASSERT_FALSE((*v)[0].ok) << point;
    EXPECT_NE((*v)[0].problems.back().find("interrupted"), std::string::npos)
        << (*v)[0].problems.back();

    Reopen();  // finishes the removal
    EXPECT_FALSE(store_->Get({"m", "v1"}).has_value()) << point;
    EXPECT_FALSE(fs::exists(opts_.data_dir / "models" / "m")) << point;
    EXPECT_FALSE(store_->HasBlob(own.sha256, own.size)) << point;
    EXPECT_TRUE(store_->HasBlob(shared.sha256, shared.size)) << point;
    auto ov = store_->Verify(ModelRef{"other", "v1"}, true);
    ASSERT_TRUE(ov.has_value());
    EXPECT_TRUE((*ov)[0].ok) << point;
    EXPECT_TRUE(fs::is_empty(opts_.data_dir / "removing")) << point;
  }
}

// A registry shared by machines (PostgreSQL) records no device number: each machine mounts
// the shared data dir as a device of its own, and a record with one would read as
// "changed" on every other machine, its blobs hashed again and its models broken there.
TEST_P(StoreTest, ASharedRegistryRecordsStampsWithoutTheirDevice) {
  auto w = Blob("w.bin", "weights");
  ASSERT_TRUE(store_->Install(Spec("m", "v1", {w})).has_value());
  const bool pg = GetParam() == testing_pg::Registry::kPostgres;
  std::unique_ptr<Db> direct;
  if (pg) {
    auto d = OpenPostgres(opts_.registry);
    ASSERT_TRUE(d.has_value()) << d.error().ToString();
    direct = std::move(d.value());
  } else {
    auto d = SqliteDb::Open(opts_.data_dir / "registry.sqlite");
    ASSERT_TRUE(d.has_value()) << d.error().ToString();
    direct = std::move(d.value());
  }
  const uint64_t dev = StampOf(store_->BlobPath(w.sha256))->dev;
  ASSERT_NE(dev, 0u);
  for (const char* sql : {"SELECT dev FROM files", "SELECT dev FROM blobs"}) {
    auto q = direct->Prepare(sql);
    ASSERT_TRUE(q.has_value());
    auto row = q->Step();
    ASSERT_TRUE(row.has_value() && *row) << sql;
    EXPECT_EQ(FromSql(q->Int(0)), pg ? 0 : dev) << sql;
  }
  EXPECT_EQ(store_->PeekBlob(w.sha256, w.size), BlobState::kVerified);
  auto m = store_->Get({"m", "v1"});
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, "available") << (m->problems.empty() ? "" : m->problems[0]);
}

TEST(FileStampTest, ARecordWithoutADeviceMatchesAnyDevice) {
  const FileStamp live{5, 100, 42, 7};
  EXPECT_TRUE((FileStamp{5, 100, 42, 7}).Matches(live));
  EXPECT_TRUE((FileStamp{5, 100, 42, 0}).Matches(live));
  EXPECT_FALSE((FileStamp{5, 100, 42, 8}).Matches(live));
  EXPECT_FALSE((FileStamp{5, 101, 42, 0}).Matches(live));
  EXPECT_FALSE((FileStamp{5, 100, 43, 0}).Matches(live));
  EXPECT_FALSE((FileStamp{6, 100, 42, 0}).Matches(live));
}

// What only the SQLite registry does: files in the data dir.
class SqliteStoreTest : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Registries, SqliteStoreTest,
                         ::testing::Values(testing_pg::Registry::kSqlite),
                         testing_pg::RegistryName);

// Opening the registry again allocates nothing: its -wal and -shm files outlive the last
// connection (so a full disk can still open it), and an up-to-date registry is not written.
TEST_P(SqliteStoreTest, ReopeningAllocatesNoNewBlocks) {
  ASSERT_TRUE(store_->Install(Spec("m", "v1", {Blob("w.bin", "weights")})).has_value());
  store_.reset();
  const fs::path db = opts_.data_dir / "registry.sqlite";
  auto blocks = [&] {
    uint64_t n = 0;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      struct stat st {};
      fs::path p = db;
      p += suffix;
      EXPECT_EQ(::stat(p.c_str(), &st), 0) << p << " is kept after the last close";
      n += static_cast<uint64_t>(st.st_blocks);
    }
    return n;
  };
  uint64_t before = blocks();
  for (int i = 0; i < 3; ++i) {
    Reopen();
    ASSERT_TRUE(store_->List(true).has_value());
    ASSERT_TRUE(store_->Get({"m", "v1"}).has_value());
    store_.reset();
  }
  EXPECT_EQ(blocks(), before);
}

TEST_P(SqliteStoreTest, MigrationsAreIdempotentAndRefuseNewerSchemas) {
  Reopen();
  Reopen();
  store_.reset();
  {
    sqlite3* db = nullptr;
    sqlite3_open((opts_.data_dir / "registry.sqlite").c_str(), &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  auto s = Store::Open(opts_);
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message().find("upgrade modeld"), std::string::npos);
}

TEST_P(StoreTest, RemembersWhichBlobAUrlProduced) {
  auto a = Blob("w.bin", "weights");
  ASSERT_TRUE(store_->RememberUrl("http://x/w.bin", a).ok());
  auto hit = store_->LookupUrl("http://x/w.bin");
  ASSERT_TRUE(hit.has_value() && hit->has_value());
  EXPECT_EQ(**hit, a);
  EXPECT_FALSE(store_->LookupUrl("http://x/other")->has_value());
  fs::remove(store_->BlobPath(a.sha256));
  EXPECT_FALSE(store_->LookupUrl("http://x/w.bin")->has_value())
      << "a memo without its blob is a miss";
}

TEST_P(StoreTest, ReusesFilesAlreadyInTheHubCacheAfterHashingThem) {
  std::string content(100000, 'h');
  std::string sha = HashHex(HashAlgorithm::kSha256, content);
  fs::path blobs = opts_.hf_cache / "models--org--m" / "blobs";
  fs::create_directories(blobs);
  std::ofstream(blobs / sha, std::ios::binary) << content;
  auto r = store_->AdoptFromHubCache("org/m", sha, sha, content.size());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, sha);
  EXPECT_TRUE(store_->HasBlob(sha, content.size()));
  EXPECT_EQ(Read(store_->BlobPath(sha)), content);
  EXPECT_TRUE(fs::exists(blobs / sha)) << "the Hub's copy is left alone";
  // A lying cache entry (right name, wrong bytes) is not reused.
  std::string other(100000, 'x');
  std::string other_sha = HashHex(HashAlgorithm::kSha256, other);
  std::ofstream(blobs / other_sha, std::ios::binary) << std::string(100000, 'y');
  EXPECT_EQ(*store_->AdoptFromHubCache("org/m", other_sha, other_sha, other.size()), "");
  EXPECT_FALSE(store_->HasBlob(other_sha, other.size()));
  EXPECT_EQ(*store_->AdoptFromHubCache("org/m", "absent", other_sha, other.size()), "");
  EXPECT_EQ(*store_->AdoptFromHubCache("org/m", sha, other_sha, 5), "") << "size mismatch";
  // Small (non-LFS) files are named by their git blob id: checked by that, stored by sha256.
  std::string small = "{\"model_type\": \"x\"}";
  std::string oid = HashHex(HashAlgorithm::kGitSha1, small);
  std::ofstream(blobs / oid, std::ios::binary) << small;
  EXPECT_EQ(*store_->AdoptFromHubCache("org/m", oid, "", small.size()),
            HashHex(HashAlgorithm::kSha256, small));
  EXPECT_TRUE(store_->HasBlob(HashHex(HashAlgorithm::kSha256, small), small.size()));
  std::ofstream(blobs / std::string(40, 'a'), std::ios::binary) << small;
  EXPECT_EQ(*store_->AdoptFromHubCache("org/m", std::string(40, 'a'), "", small.size()), "")
      << "wrong git id";
}

// --- Integrity (issue 11): verification records ----------------------------------------

// A verified file adopted over a corrupt blob of the same digest replaces it.
TEST_P(StoreTest, AdoptingAVerifiedFileReplacesACorruptBlob) {
  auto a = Blob("w.bin", "the right bytes");
  CorruptInPlace(store_->BlobPath(a.sha256));
  ASSERT_NE(Read(store_->BlobPath(a.sha256)), "the right bytes");
  Blob("w.bin", "the right bytes");  // a verified download of the same file
  EXPECT_EQ(Read(store_->BlobPath(a.sha256)), "the right bytes");
}

// A verified blob is kept (one inode: the hard links of installed models stay shared);
// with kReplace (pull --force) the new file always takes its place.
TEST_P(StoreTest, AdoptingKeepsAVerifiedBlobUnlessTold) {
  auto a = Blob("w.bin", "weights");
  struct stat before {
  }, after{};
  ASSERT_EQ(::stat(store_->BlobPath(a.sha256).c_str(), &before), 0);
  Blob("w.bin", "weights");
  ASSERT_EQ(::stat(store_->BlobPath(a.sha256).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino) << "kept";
  EXPECT_EQ(BlobCount(), 1u);
  fs::path tmp = root_ / "forced";
  std::ofstream(tmp, std::ios::binary) << "weights";
  ASSERT_TRUE(store_->AdoptBlob(tmp, a.sha256, AdoptMode::kReplace).ok());
  ASSERT_EQ(::stat(store_->BlobPath(a.sha256).c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino) << "replaced";
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kVerified);
}

// Reuse rests on the verification record: a blob whose stat is the one recorded is reused
// without reading it; one that changed is hashed again, and dropped when it is wrong.
TEST_P(StoreTest, ReuseChecksTheRecordAndHashesAChangedBlob) {
  auto a = Blob("w.bin", "0123456789");
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kVerified);
  EXPECT_TRUE(store_->HasVerifiedBlob(a.sha256, a.size));
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size + 1), BlobState::kMissing);
  EXPECT_EQ(store_->PeekBlob(std::string(64, 'a'), 1), BlobState::kMissing);

  // Touched, same bytes: hashed again, still good, recorded again.
  fs::path blob = store_->BlobPath(a.sha256);
  fs::last_write_time(blob, fs::last_write_time(blob) + std::chrono::seconds(5));
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kChanged);
  EXPECT_TRUE(store_->HasVerifiedBlob(a.sha256, a.size));
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kVerified);

  // Other bytes: not reused, and gone.
  CorruptInPlace(blob);
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kChanged);
  EXPECT_FALSE(store_->HasVerifiedBlob(a.sha256, a.size));
  EXPECT_FALSE(fs::exists(blob));
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kMissing);

  // A blob an older modeld stored has no record: hashed at its first reuse.
  auto b = Blob("b.bin", "older");
  fs::path tmp = root_ / "older";
  fs::copy_file(store_->BlobPath(b.sha256), tmp);
  ASSERT_TRUE(store_->Gc(std::chrono::seconds(0)).has_value());  // drops b and its record
  ASSERT_EQ(::rename(tmp.c_str(), store_->BlobPath(b.sha256).c_str()), 0);
  EXPECT_EQ(store_->PeekBlob(b.sha256, b.size), BlobState::kUnrecorded);
  EXPECT_TRUE(store_->HasVerifiedBlob(b.sha256, b.size));
  EXPECT_EQ(store_->PeekBlob(b.sha256, b.size), BlobState::kVerified);
}

// The URL memo leads to a blob only through the same check.
TEST_P(StoreTest, AUrlMemoDoesNotLeadToACorruptBlob) {
  auto a = Blob("w.bin", "weights");
  ASSERT_TRUE(store_->RememberUrl("http://x/w.bin", a).ok());
  CorruptInPlace(store_->BlobPath(a.sha256));
  auto hit = store_->LookupUrl("http://x/w.bin");
  ASSERT_TRUE(hit.has_value());
  EXPECT_FALSE(hit->has_value() && store_->HasVerifiedBlob((*hit)->sha256, (*hit)->size));
}

// Reusing a file from the Hub cache: a blob of ours that went bad is replaced by the Hub's
// good copy, not returned as it is.
TEST_P(StoreTest, HubCacheReuseReplacesACorruptBlobOfOurs) {
  std::string content(100000, 'h');
  auto ours = Blob("w.bin", content);
  fs::path blobs = opts_.hf_cache / "models--org--m" / "blobs";
  fs::create_directories(blobs);
  std::ofstream(blobs / ours.sha256, std::ios::binary) << content;  // a copy of its own
  CorruptInPlace(store_->BlobPath(ours.sha256));
  auto r = store_->AdoptFromHubCache("org/m", ours.sha256, ours.sha256, content.size());
  ASSERT_TRUE(r.has_value()) << r.error().ToString();
  EXPECT_EQ(*r, ours.sha256);
  EXPECT_EQ(Read(store_->BlobPath(ours.sha256)), content);
  EXPECT_EQ(store_->PeekBlob(ours.sha256, content.size()), BlobState::kVerified);
}

// List, Get and Versions check each file with a stat and agree: a file deleted, replaced
// or changed makes the model broken, and the problems say what.
TEST_P(StoreTest, ReadsAgreeOnAModelWhoseFilesChanged) {
  auto status_everywhere = [&](const ModelRef& ref) {
    std::set<std::string> seen;
    auto list = store_->List();
    ASSERT_TRUE(list.has_value());
    for (const auto& m : *list) {
      if (m.ref == ref) seen.insert(m.status);
    }
    ASSERT_TRUE(store_
                    ->ScanModels([&](const ModelInfo& m) {
                      if (m.ref == ref) seen.insert(m.status);
                    })
                    .ok());
    auto versions = store_->Versions(ref.name);
    ASSERT_TRUE(versions.has_value());
    for (const auto& m : *versions) {
      if (m.ref == ref) seen.insert(m.status);
    }
    auto got = store_->Get(ref);
    ASSERT_TRUE(got.has_value());
    seen.insert(got->status);
    ASSERT_EQ(seen.size(), 1u) << "one answer";
    EXPECT_EQ(*seen.begin(), want_status_);
  };
  auto a = Blob("a.bin", "aaaaaaaaaa");
  auto b = Blob("b.bin", "bbbbbbbbbb");
  auto c = Blob("c.bin", "cccccccccc");
  ASSERT_TRUE(store_->Install(Spec("m", "deleted", {a})).has_value());
  ASSERT_TRUE(store_->Install(Spec("m", "replaced", {b})).has_value());
  ASSERT_TRUE(store_->Install(Spec("m", "changed", {c})).has_value());
  want_status_ = "available";
  for (const char* v : {"deleted", "replaced", "changed"}) status_everywhere({"m", v});

  fs::path models = opts_.data_dir / "models" / "m";
  fs::remove(models / "deleted" / "a.bin");
  fs::remove(models / "replaced" / "b.bin");
  std::ofstream(models / "replaced" / "b.bin") << "BBBBBBBBBB";  // same size, a new file
  CorruptInPlace(models / "changed" / "c.bin");
  want_status_ = "broken";
  for (const char* v : {"deleted", "replaced", "changed"}) status_everywhere({"m", v});
  auto got = store_->Get({"m", "deleted"});
  ASSERT_EQ(got->problems.size(), 1u);
  EXPECT_EQ(got->problems[0], "a.bin: missing");
  got = store_->Get({"m", "replaced"});
  ASSERT_EQ(got->problems.size(), 1u);
  EXPECT_NE(got->problems[0].find("changed since it was verified"), std::string::npos)
      << got->problems[0];
  EXPECT_TRUE(store_->List(/*with_files=*/false)->front().files.empty());
}

// verify's full hash records what it finds: a touched file with the right bytes is
// available again, and a blob whose bytes rotted under an unchanged stat loses its record,
// so the next reuse hashes it (and drops it) instead of trusting it.
TEST_P(StoreTest, AFullVerifyRecordsWhatItFinds) {
  auto a = Blob("a.bin", "aaaaaaaaaa");
  auto m = store_->Install(Spec("m", "v1", {a}));
  ASSERT_TRUE(m.has_value());
  fs::path file = m->path / "a.bin";
  fs::last_write_time(file, fs::last_write_time(file) + std::chrono::seconds(5));
  EXPECT_EQ(store_->Get({"m", "v1"})->status, "broken") << "changed since it was verified";
  EXPECT_FALSE((*store_->Verify(ModelRef{"m", "v1"}, false))[0].ok);
  EXPECT_TRUE((*store_->Verify(ModelRef{"m", "v1"}, true))[0].ok);
  EXPECT_EQ(store_->Get({"m", "v1"})->status, "available");
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kVerified);

  CorruptInPlace(file, /*keep_mtime=*/true);
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kVerified) << "a stat cannot tell";
  EXPECT_FALSE((*store_->Verify(ModelRef{"m", "v1"}, true))[0].ok);
  EXPECT_EQ(store_->PeekBlob(a.sha256, a.size), BlobState::kUnrecorded);
  EXPECT_FALSE(store_->HasVerifiedBlob(a.sha256, a.size));
  EXPECT_EQ(store_->Get({"m", "v1"})->status, "broken");
}

TEST_P(StoreTest, JobsSurviveAReopen) {
  JobRecord a;
  a.id = "dwnld_1";
  a.model = "resnet50:v1.0";
  a.request = {{"model_name", "resnet50"}, {"version", "v1.0"}};
  a.state = "downloading";
  a.bytes_done = 10;
  a.bytes_total = 100;
  ASSERT_TRUE(store_->SaveJob(a).ok());
  JobRecord b = a;
  b.id = "dwnld_2";
  b.state = "completed";
  b.bytes_total.reset();
  ASSERT_TRUE(store_->SaveJob(b).ok());
  a.bytes_done = 50;
  ASSERT_TRUE(store_->SaveJob(a).ok());  // an update, not a second row
  Reopen();
  auto all = store_->ListJobs(false);
  ASSERT_TRUE(all.has_value());
  ASSERT_EQ(all->size(), 2u);
  auto open = store_->ListJobs(true);
  ASSERT_EQ(open->size(), 1u);
  EXPECT_EQ((*open)[0].id, "dwnld_1");
  EXPECT_EQ((*open)[0].bytes_done, 50u);
  EXPECT_EQ((*open)[0].bytes_total, 100u);
  EXPECT_EQ((*open)[0].request["model_name"], "resnet50");
  EXPECT_GT((*open)[0].created_at, 0);
  auto got = store_->GetJob("dwnld_2");
  ASSERT_TRUE(got.has_value());
  EXPECT_FALSE(got->bytes_total.has_value());
  ASSERT_TRUE(store_->DeleteJob("dwnld_2").ok());
  EXPECT_EQ(store_->GetJob("dwnld_2").error().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SaveJob(JobRecord{}).code(), Status::Code::kInvalidArgument);
}

// transformers and llama.cpp open files by path in the Hub cache: check that layout.
TEST_P(StoreTest, HubCacheLayoutReadsBackByPath) {
  auto cfg = Blob("config.json", "{\"model_type\":\"llama\"}");
  auto w = Blob("model.safetensors", std::string(4096, 's'));
  auto nested = Blob("tokenizer/vocab.txt", "a\nb\n");
  std::string commit = "0123456789abcdef0123456789abcdef01234567";
  HubSnapshot snap{
      "org/tiny-llama",
      "main",
      commit,
      {{"config.json", "1d5f2c0f0b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d", cfg.sha256},
       {"model.safetensors", w.sha256, w.sha256},
       {"tokenizer/vocab.txt", "aa5f2c0f0b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d", nested.sha256}}};
  ASSERT_TRUE(store_->LinkHubSnapshot(snap).ok());
  fs::path repo = opts_.hf_cache / "models--org--tiny-llama";
  EXPECT_EQ(Read(repo / "refs" / "main"), commit);
  fs::path snapdir = repo / "snapshots" / commit;
  EXPECT_EQ(Read(snapdir / "config.json"), "{\"model_type\":\"llama\"}");
  EXPECT_EQ(Read(snapdir / "model.safetensors"), std::string(4096, 's'));
  EXPECT_EQ(Read(snapdir / "tokenizer" / "vocab.txt"), "a\nb\n");
  EXPECT_TRUE(fs::is_symlink(snapdir / "tokenizer" / "vocab.txt"));
  EXPECT_EQ(fs::read_symlink(snapdir / "model.safetensors"), fs::path("../../blobs") / w.sha256);
  EXPECT_EQ(fs::read_symlink(snapdir / "tokenizer" / "vocab.txt"),
            fs::path("../../../blobs/aa5f2c0f0b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d"));
  EXPECT_TRUE(fs::exists(opts_.hf_cache / "CACHEDIR.TAG"));
  auto found = store_->FindHubBlob("org/tiny-llama", w.sha256);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(Read(*found), std::string(4096, 's'));
  EXPECT_FALSE(store_->FindHubBlob("org/tiny-llama", "../../etc").has_value());
  // Linking again (another revision name, same commit) is idempotent.
  snap.revision = "v1.0";
  ASSERT_TRUE(store_->LinkHubSnapshot(snap).ok());
  EXPECT_EQ(Read(repo / "refs" / "v1.0"), commit);
  snap.files[0].path = "../escape";
  EXPECT_FALSE(store_->LinkHubSnapshot(snap).ok());
}

// A Hub model's files are hard-linked into the Hub cache: removing the model here alone
// frees no byte. rm and gc keep such a file and say so; with hf_cache they delete the Hub
// cache's links too, and the bytes go.
class HubLinkedCleanupTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (IsSkipped()) return;
    w_ = Blob("w.bin", std::string(8192, 'w'));
    cfg_ = Blob("config.json", "{}");
    ASSERT_TRUE(store_->Install(Spec("org/m", "latest", {w_, cfg_})).has_value());
    HubSnapshot snap{"org/m", "main", kCommit, {{"w.bin", w_.sha256, w_.sha256}}};
    ASSERT_TRUE(store_->LinkHubSnapshot(snap).ok());
    repo_ = opts_.hf_cache / "models--org--m";
    ASSERT_TRUE(fs::exists(repo_ / "blobs" / w_.sha256));
  }
  static constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";
  FileEntry w_, cfg_;
  fs::path repo_;
};

TEST_P(HubLinkedCleanupTest, CacheReportsTheHubCacheFilesThatAreOurs) {
  auto cache = store_->Cache();
  ASSERT_TRUE(cache.has_value());
  ASSERT_EQ(cache->hub_repos.size(), 1u);
  EXPECT_EQ(cache->hub_repos[0].repo_id, "org/m");
  EXPECT_EQ(cache->hub_repos[0].path, repo_);
  EXPECT_EQ(cache->hub_repos[0].files, 1u);
  EXPECT_EQ(cache->hub_repos[0].bytes, 8192u);
  EXPECT_EQ(cache->hub_repos[0].unused_files, 0u);
  // A file of the Hub cache's own (another inode) is not ours.
  std::ofstream(repo_ / "blobs" / "f00d") << "downloaded by huggingface_hub";
  cache = store_->Cache();
  ASSERT_TRUE(cache.has_value());
  EXPECT_EQ(cache->hub_repos[0].files, 1u);
}

TEST_P(HubLinkedCleanupTest, RemoveKeepsWhatTheHubCacheLinksAndGcHfCacheFreesIt) {
  auto removed = store_->Remove("org/m", "");
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(removed->removed.size(), 1u);
  EXPECT_EQ(removed->blobs_removed, 1u) << "config.json, linked nowhere else";
  EXPECT_EQ(removed->freed_bytes, 2u);
  EXPECT_EQ(removed->hub.kept, 1u);
  EXPECT_EQ(removed->hub.kept_bytes, 8192u);
  EXPECT_EQ(removed->hub.repos, std::vector<std::string>{"org/m"});
  EXPECT_TRUE(fs::exists(store_->BlobPath(w_.sha256))) << "kept: deleting it frees nothing";
  EXPECT_TRUE(fs::exists(repo_ / "snapshots" / kCommit / "w.bin"));
  auto cache = store_->Cache();
  ASSERT_TRUE(cache.has_value());
  ASSERT_EQ(cache->hub_repos.size(), 1u);
  EXPECT_EQ(cache->hub_repos[0].unused_files, 1u);

  // A plain gc keeps it too; a dry run with hf_cache says what would go, and changes nothing.
  auto gc = store_->Gc(std::chrono::seconds(0));
  ASSERT_TRUE(gc.has_value());
  EXPECT_EQ(gc->blobs_removed, 0u);
  EXPECT_EQ(gc->hub.kept, 1u);
  EXPECT_TRUE(fs::exists(store_->BlobPath(w_.sha256)));
  gc = store_->Gc(std::chrono::seconds(0), CleanupOptions{.hf_cache = true, .dry_run = true});
  ASSERT_TRUE(gc.has_value());
  EXPECT_TRUE(gc->dry_run);
  EXPECT_EQ(gc->blobs_removed, 1u);
  EXPECT_EQ(gc->freed_bytes, 8192u);
  EXPECT_EQ(gc->hub.links_removed, 1u);
  EXPECT_TRUE(fs::exists(store_->BlobPath(w_.sha256)));
  EXPECT_TRUE(fs::exists(repo_ / "blobs" / w_.sha256));

  gc = store_->Gc(std::chrono::seconds(0), CleanupOptions{.hf_cache = true});
  ASSERT_TRUE(gc.has_value());
  EXPECT_EQ(gc->blobs_removed, 1u);
  EXPECT_EQ(gc->freed_bytes, 8192u);
  EXPECT_EQ(gc->hub.links_removed, 1u);
  EXPECT_FALSE(fs::exists(store_->BlobPath(w_.sha256)));
  EXPECT_FALSE(fs::exists(repo_)) << "nothing left of the repository: its directory goes";
  EXPECT_TRUE(fs::exists(opts_.hf_cache / "CACHEDIR.TAG"));
}

TEST_P(HubLinkedCleanupTest, RemoveWithHfCacheFreesBothAndKeepsTheHubCachesOwnFiles) {
  // Another file of the repository that the Hub cache holds on its own.
  std::ofstream(repo_ / "blobs" / "f00d") << "theirs";
  fs::create_symlink("../../blobs/f00d", repo_ / "snapshots" / kCommit / "README.md");
  auto removed = store_->Remove("org/m", "latest", CleanupOptions{.hf_cache = true});
  ASSERT_TRUE(removed.has_value()) << removed.error().ToString();
  EXPECT_EQ(removed->blobs_removed, 2u);
  EXPECT_EQ(removed->freed_bytes, 8192u + 2u);
  EXPECT_EQ(removed->hub.kept, 0u);
  EXPECT_EQ(removed->hub.links_removed, 1u);
  EXPECT_FALSE(fs::exists(repo_ / "blobs" / w_.sha256));
  EXPECT_FALSE(fs::is_symlink(repo_ / "snapshots" / kCommit / "w.bin"));
  EXPECT_EQ(Read(repo_ / "snapshots" / kCommit / "README.md"), "theirs");
  EXPECT_EQ(Read(repo_ / "refs" / "main"), kCommit) << "its snapshot is still there";
  EXPECT_EQ(BlobCount(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Registries, StoreTest, MODELD_REGISTRIES);
INSTANTIATE_TEST_SUITE_P(Registries, HubLinkedCleanupTest, MODELD_REGISTRIES);

}  // namespace
}  // namespace modeld::store
