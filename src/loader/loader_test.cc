#include "loader/loader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/error_reasons.h"

namespace modeld::loader {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;
using std::chrono::seconds;

constexpr uint64_t kMiB = 1ull << 20;

// Writes |size| bytes of a pattern to |path| and returns it as a model file.
ModelFile MakeFile(const fs::path& path, uint64_t size) {
  std::vector<char> block(kMiB);
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 31 + 7);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (uint64_t done = 0; done < size; done += block.size()) {
    out.write(block.data(),
              static_cast<std::streamsize>(std::min<uint64_t>(block.size(), size - done)));
  }
  out.close();
  return {path.string(), size};
}

// Evicts |path| from the page cache (written back first, or the dirty pages would stay).
void DropCache(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fdatasync(fd), 0);
  ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  close(fd);
}

// The bytes of |path| in the page cache, measured through a mapping of our own (never
// faulted in, so it shows only what is there already).
uint64_t CachedBytes(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  off_t size = lseek(fd, 0, SEEK_END);
  void* p = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  long page = sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> vec((size + page - 1) / page);
  mincore(p, size, vec.data());
  munmap(p, size);
  uint64_t n = 0;
  for (unsigned char c : vec) n += (c & 1) ? page : 0;
  return n;
}

// How many mappings of |path| /proc/self/maps lists.
int MappingsOf(const std::string& path) {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.size() >= path.size() &&
        line.compare(line.size() - path.size(), path.size(), path) == 0) {
      ++n;
    }
  }
  return n;
}

// Expects |r| to have failed with |code| and the typed detail |reason_name| with |fields|.
void ExpectFailure(const Result<LoadInfo>& r, Status::Code code, std::string_view reason_name,
                   const std::map<std::string, std::string>& fields) {
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), code) << r.error().ToString();
  ASSERT_NE(r.error().info(), nullptr) << r.error().ToString();
  EXPECT_EQ(r.error().info()->reason, reason_name);
  for (const auto& [key, value] : r.error().info()->fields) {
    EXPECT_EQ(fields.count(key), 1u) << "unexpected field " << key;
  }
  for (const auto& [key, value] : fields) EXPECT_EQ(r.error().info()->Get(key), value) << key;
}

// A steady clock the test moves by hand.
struct FakeClock {
  std::atomic<int64_t> ns{std::chrono::nanoseconds(hours(1000)).count()};
  Clock::time_point Now() const { return Clock::time_point(std::chrono::nanoseconds(ns.load())); }
  void Advance(Duration d) {
    ns += std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }
};

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("modeld_loader_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A model |key| of one file of |size| bytes.
  LoadSpec Model(const std::string& key, uint64_t size) {
    LoadSpec spec;
    spec.key = key;
    spec.files.push_back(MakeFile(dir_ / (key + ".gguf"), size));
    return spec;
  }

  Options FakeClockOptions(uint64_t budget = 0) {
    Options o;
    o.max_loaded_bytes = budget;
    o.now = [this] { return clock_.Now(); };
    return o;
  }

  // Moves the clock on by |d|, lets the loader's thread run a pass, and says whether
  // |key| is still loaded.
  bool LoadedAfter(Loader* loader, Duration d, std::string_view key) {
    clock_.Advance(d);
    loader->WaitForTimerForTest();
    return loader->IsLoaded(key);
  }

  fs::path dir_;
  FakeClock clock_;
};

TEST_F(LoaderTest, LoadMakesTheFileResidentAndUnloadUnmapsIt) {
  LoadSpec spec = Model("big:1", 256 * kMiB);
  const std::string& path = spec.files[0].path;
  DropCache(path);
  ASSERT_LT(CachedBytes(path), 128 * kMiB)
      << "the page cache kept the file: the test shows nothing";

  Loader loader;
  Result<LoadInfo> info = loader.Load(spec);
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_TRUE(info->loaded);
  EXPECT_FALSE(info->joined);
  EXPECT_EQ(info->bytes, 256 * kMiB);
  EXPECT_EQ(info->resident_bytes, 256 * kMiB);
  EXPECT_GT(info->load_time, Duration::zero());
  EXPECT_FALSE(info->mlocked);
  EXPECT_TRUE(loader.IsLoaded("big:1"));
  EXPECT_EQ(MappingsOf(path), 1);

  std::vector<LoadedModel> list = loader.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].key, "big:1");
  EXPECT_EQ(list[0].instance_id, info->instance_id);
  EXPECT_EQ(list[0].resident_bytes, 256 * kMiB);
  ASSERT_TRUE(list[0].expires_at);  // the default keep_alive, 5 minutes
  EXPECT_EQ(*list[0].expires_at - list[0].last_used, kDefaultKeepAlive);

  EXPECT_TRUE(loader.Unload("big:1"));
  EXPECT_FALSE(loader.IsLoaded("big:1"));
  EXPECT_TRUE(loader.List().empty());
  loader.WaitForTimerForTest();  // the loader's thread has unmapped it
  EXPECT_EQ(MappingsOf(path), 0);
  EXPECT_FALSE(loader.Unload("big:1"));  // idempotent
}

TEST_F(LoaderTest, AModelOfSeveralFilesIsOneInstance) {
  LoadSpec spec = Model("multi:1", 3 * kMiB);
  spec.files.push_back(MakeFile(dir_ / "part2", 2 * kMiB + 100));
  spec.files.push_back(MakeFile(dir_ / "empty.json", 0));
  Loader loader;
  Result<LoadInfo> info = loader.Load(spec);
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ(info->bytes, 5 * kMiB + 100);
  EXPECT_EQ(info->resident_bytes, 5 * kMiB + 100);
  EXPECT_EQ(MappingsOf(spec.files[0].path), 1);
  EXPECT_EQ(MappingsOf(spec.files[1].path), 1);
  EXPECT_EQ(loader.UnloadAll(), 1u);
  loader.WaitForTimerForTest();
  EXPECT_EQ(MappingsOf(spec.files[0].path), 0);
  EXPECT_EQ(MappingsOf(spec.files[1].path), 0);
}

TEST_F(LoaderTest, ALoadOfALoadedModelKeepsItsInstanceAndRefreshesIt) {
  Loader loader(FakeClockOptions());
  LoadSpec spec = Model("m:1", kMiB);
  Result<LoadInfo> first = loader.Load(spec);
  ASSERT_TRUE(first);
  clock_.Advance(seconds(60));
  spec.keep_alive = hours(2);
  Result<LoadInfo> second = loader.Load(spec);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->joined);
  EXPECT_EQ(second->instance_id, first->instance_id);
  std::vector<LoadedModel> list = loader.List();
  ASSERT_EQ(list.size(), 1u);
  ASSERT_TRUE(list[0].expires_at);
  EXPECT_EQ(*list[0].expires_at - list[0].last_used, hours(2));
  EXPECT_EQ(list[0].last_used - list[0].loaded_at, seconds(60));
  EXPECT_EQ(MappingsOf(spec.files[0].path), 1);
}

TEST_F(LoaderTest, ANewLoadEvictsTheLeastRecentlyUsed) {
  Loader loader(FakeClockOptions(3 * kMiB));
  LoadSpec a = Model("a:1", kMiB), b = Model("b:1", kMiB), c = Model("c:1", kMiB);
  LoadSpec d = Model("d:1", kMiB), e = Model("e:1", 2 * kMiB);
  ASSERT_TRUE(loader.Load(a));
  ASSERT_TRUE(loader.Load(b));
  ASSERT_TRUE(loader.Load(c));
  EXPECT_TRUE(loader.Touch("a:1"));  // a is now the most recently used; b the least
  ASSERT_TRUE(loader.Load(d));
  EXPECT_TRUE(loader.IsLoaded("a:1"));
  EXPECT_FALSE(loader.IsLoaded("b:1"));
  EXPECT_TRUE(loader.IsLoaded("c:1"));
  EXPECT_TRUE(loader.IsLoaded("d:1"));
  ASSERT_TRUE(loader.Load(c));  // a Load refreshes too: now a is the least recently used
  ASSERT_TRUE(loader.Load(e));  // needs two: a, then d
  EXPECT_FALSE(loader.IsLoaded("a:1"));
  EXPECT_TRUE(loader.IsLoaded("c:1"));
  EXPECT_FALSE(loader.IsLoaded("d:1"));
  EXPECT_TRUE(loader.IsLoaded("e:1"));
  loader.WaitForTimerForTest();
  EXPECT_EQ(MappingsOf(a.files[0].path), 0);
  EXPECT_EQ(MappingsOf(b.files[0].path), 0);
  EXPECT_EQ(MappingsOf(d.files[0].path), 0);
  EXPECT_FALSE(loader.Touch("a:1"));
}

TEST_F(LoaderTest, AModelLargerThanTheBudgetIsRefusedUpFront) {
  Loader loader(FakeClockOptions(2 * kMiB));
  ASSERT_TRUE(loader.Load(Model("small:1", kMiB)));
  LoadSpec big = Model("big:1", 3 * kMiB);
  Result<LoadInfo> r = loader.Load(big);
  ExpectFailure(r, Status::Code::kFailedPrecondition, reason::kModelTooLarge,
                {{"model", "big:1"},
                 {"required", std::to_string(3 * kMiB)},
                 {"available", std::to_string(2 * kMiB)}});
  EXPECT_NE(r.error().message().find("big:1"), std::string::npos);
  EXPECT_TRUE(loader.IsLoaded("small:1"));  // nothing was evicted for it
  EXPECT_EQ(MappingsOf(big.files[0].path), 0);
}

TEST_F(LoaderTest, AnIdleModelExpiresAfterItsKeepAlive) {
  Loader loader(FakeClockOptions());
  LoadSpec spec = Model("m:1", kMiB);
  spec.keep_alive = seconds(10);
  ASSERT_TRUE(loader.Load(spec));
  EXPECT_TRUE(LoadedAfter(&loader, seconds(9), "m:1"));
  EXPECT_TRUE(loader.Touch("m:1"));  // the 10 s count from now
  EXPECT_TRUE(LoadedAfter(&loader, seconds(9), "m:1"));
  EXPECT_FALSE(LoadedAfter(&loader, seconds(1), "m:1"));
  EXPECT_EQ(MappingsOf(spec.files[0].path), 0);
}

TEST_F(LoaderTest, TheDefaultKeepAliveAppliesWhenUnset) {
  Options options = FakeClockOptions();
  options.default_keep_alive = seconds(30);
  Loader loader(options);
  ASSERT_TRUE(loader.Load(Model("m:1", kMiB)));
  EXPECT_TRUE(LoadedAfter(&loader, seconds(29), "m:1"));
  EXPECT_FALSE(LoadedAfter(&loader, seconds(1), "m:1"));
}

TEST_F(LoaderTest, ANegativeKeepAliveNeverExpires) {
  Loader loader(FakeClockOptions());
  LoadSpec spec = Model("m:1", kMiB);
  spec.keep_alive = seconds(-1);
  ASSERT_TRUE(loader.Load(spec));
  EXPECT_TRUE(LoadedAfter(&loader, hours(24 * 365), "m:1"));
  std::vector<LoadedModel> list = loader.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_FALSE(list[0].expires_at);
}

TEST_F(LoaderTest, AModelWhoseFileIsRemovedOrReplacedIsUnloaded) {
  // Another process (`modeld rm`, a repair) removed or replaced the file: what is mapped is
  // no longer the model, and its bytes must not stay in memory.
  Options o = FakeClockOptions();
  o.watch_interval = hours(1);  // only the passes asked for below
  Loader loader(std::move(o));
  LoadSpec gone = Model("gone:1", kMiB);
  LoadSpec swapped = Model("swapped:1", kMiB);
  LoadSpec kept = Model("kept:1", kMiB);
  for (const LoadSpec* spec : {&gone, &swapped, &kept}) ASSERT_TRUE(loader.Load(*spec));

  loader.WaitForTimerForTest();
  EXPECT_TRUE(loader.IsLoaded("gone:1"));  // nothing changed yet

  fs::remove(gone.files[0].path);
  MakeFile(dir_ / "new.gguf", kMiB);
  fs::rename(dir_ / "new.gguf", swapped.files[0].path);  // same path and size, another file
  loader.WaitForTimerForTest();
  EXPECT_FALSE(loader.IsLoaded("gone:1"));
  EXPECT_FALSE(loader.IsLoaded("swapped:1"));
  EXPECT_TRUE(loader.IsLoaded("kept:1"));
  EXPECT_EQ(MappingsOf(gone.files[0].path + " (deleted)"), 0);
  EXPECT_EQ(MappingsOf(swapped.files[0].path), 0);
  EXPECT_EQ(MappingsOf(kept.files[0].path), 1);

  // The new file loads as a new instance, and stays.
  Result<LoadInfo> again = loader.Load(swapped);
  ASSERT_TRUE(again) << again.error().ToString();
  loader.WaitForTimerForTest();
  EXPECT_TRUE(loader.IsLoaded("swapped:1"));
}

TEST_F(LoaderTest, AZeroKeepAliveUnloadsNow) {
  Loader loader(FakeClockOptions());
  LoadSpec spec = Model("m:1", kMiB);
  Result<LoadInfo> loaded = loader.Load(spec);
  ASSERT_TRUE(loaded);
  spec.keep_alive = Duration::zero();
  Result<LoadInfo> r = loader.Load(spec);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->loaded);
  EXPECT_FALSE(loader.IsLoaded("m:1"));
  loader.WaitForTimerForTest();
  EXPECT_EQ(MappingsOf(spec.files[0].path), 0);
  r = loader.Load(spec);  // not loaded: still nothing to do
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->loaded);
  EXPECT_EQ(MappingsOf(spec.files[0].path), 0);
}

TEST_F(LoaderTest, AMissingFileIsRefusedNamingTheModelAndTheFile) {
  Loader loader;
  LoadSpec spec = Model("m:1", kMiB);
  spec.files.push_back({(dir_ / "gone.gguf").string(), 10});
  Result<LoadInfo> r = loader.Load(spec);
  ExpectFailure(r, Status::Code::kNotFound, reason::kModelFileMissing,
                {{"model", "m:1"}, {"path", (dir_ / "gone.gguf").string()}});
  EXPECT_NE(r.error().message().find("gone.gguf"), std::string::npos);
  EXPECT_NE(r.error().message().find("m:1"), std::string::npos);
  EXPECT_FALSE(loader.IsLoaded("m:1"));
  EXPECT_EQ(MappingsOf(spec.files[0].path), 0);
}

TEST_F(LoaderTest, AFileOfTheWrongSizeIsRefusedNamingTheModelAndTheFile) {
  Loader loader;
  LoadSpec spec = Model("m:1", kMiB);
  spec.files[0].size = kMiB + 1;
  Result<LoadInfo> r = loader.Load(spec);
  ExpectFailure(r, Status::Code::kCorrupt, reason::kModelFileSize,
                {{"model", "m:1"},
                 {"path", spec.files[0].path},
                 {"expected", std::to_string(kMiB + 1)},
                 {"actual", std::to_string(kMiB)}});
  EXPECT_NE(r.error().message().find("m:1"), std::string::npos);
  EXPECT_FALSE(loader.IsLoaded("m:1"));
  EXPECT_EQ(MappingsOf(spec.files[0].path), 0);
}

TEST_F(LoaderTest, ABadSpecIsRefused) {
  Loader loader;
  LoadSpec spec;
  EXPECT_EQ(loader.Load(spec).error().code(), Status::Code::kInvalidArgument);
  spec.key = "m:1";
  EXPECT_EQ(loader.Load(spec).error().code(), Status::Code::kInvalidArgument);
  spec.files.push_back({"relative/model.gguf", 1});
  EXPECT_EQ(loader.Load(spec).error().code(), Status::Code::kInvalidArgument);
}

TEST_F(LoaderTest, TwoThreadsLoadingOneModelShareOneInstance) {
  // The first load holds at its first chunk until the second has joined it.
  std::promise<void> joined;
  std::shared_future<void> joined_future = joined.get_future().share();
  std::atomic<bool> first_chunk{true};
  Options options;
  options.chunk_bytes = kMiB;
  options.on_chunk_for_test = [&](const std::string&, uint64_t) {
    if (first_chunk.exchange(false)) joined_future.wait();
  };
  options.on_join_for_test = [&](const std::string&) { joined.set_value(); };
  Loader loader(options);
  LoadSpec spec = Model("m:1", 8 * kMiB);
  DropCache(spec.files[0].path);

  Result<LoadInfo> r1 = Status::Internal("not run"), r2 = Status::Internal("not run");
  std::thread t1([&] { r1 = loader.Load(spec); });
  std::thread t2([&] { r2 = loader.Load(spec); });
  t1.join();
  t2.join();
  ASSERT_TRUE(r1) << r1.error().ToString();
  ASSERT_TRUE(r2) << r2.error().ToString();
  EXPECT_EQ(r1->instance_id, r2->instance_id);
  EXPECT_NE(r1->joined, r2->joined);  // one loaded it, the other joined
  EXPECT_EQ(r1->resident_bytes, 8 * kMiB);
  EXPECT_EQ(r2->resident_bytes, 8 * kMiB);
  EXPECT_EQ(MappingsOf(spec.files[0].path), 1);
  EXPECT_EQ(loader.List().size(), 1u);
}

TEST_F(LoaderTest, AnUnloadDuringALoadCancelsItAndItsWaiters) {
  Loader* loader_ptr = nullptr;
  std::promise<void> joined;
  std::shared_future<void> joined_future = joined.get_future().share();
  std::atomic<int> chunks{0};
  Options options;
  options.chunk_bytes = kMiB;
  options.on_chunk_for_test = [&](const std::string& key, uint64_t) {
    if (chunks++ == 0) {
      joined_future.wait();
      EXPECT_TRUE(loader_ptr->Unload(key));
    }
  };
  options.on_join_for_test = [&](const std::string&) { joined.set_value(); };
  Loader loader(options);
  loader_ptr = &loader;
  LoadSpec spec = Model("m:1", 8 * kMiB);

  Result<LoadInfo> r1 = Status::Internal("not run"), r2 = Status::Internal("not run");
  std::thread t1([&] { r1 = loader.Load(spec); });
  std::thread t2([&] { r2 = loader.Load(spec); });
  t1.join();
  t2.join();
  ASSERT_FALSE(r1);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r1.error().code(), Status::Code::kCancelled);
  EXPECT_EQ(r2.error().code(), Status::Code::kCancelled);
  EXPECT_EQ(chunks.load(), 1);  // it stopped at the next chunk
  EXPECT_FALSE(loader.IsLoaded("m:1"));
  EXPECT_EQ(MappingsOf(spec.files[0].path), 0);  // unmapped before Load returned

  Result<LoadInfo> again = loader.Load(spec);  // a new load starts from scratch
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->resident_bytes, 8 * kMiB);
}

TEST_F(LoaderTest, LoadsHoldingTheBudgetAreNotEvicted) {
  Loader* loader_ptr = nullptr;
  LoadSpec small = Model("small:1", kMiB);
  Result<LoadInfo> blocked = Status::Internal("not run");
  std::atomic<int> chunks{0};
  Options options;
  options.max_loaded_bytes = 3 * kMiB;
  options.chunk_bytes = kMiB;
  options.on_chunk_for_test = [&](const std::string& key, uint64_t) {
    // While "a:1" is loading, "small:1" cannot have the budget it holds.
    if (key == "a:1" && chunks++ == 0) blocked = loader_ptr->Load(small);
  };
  Loader loader(options);
  loader_ptr = &loader;
  ASSERT_TRUE(loader.Load(Model("a:1", 3 * kMiB)));
  ExpectFailure(blocked, Status::Code::kUnavailable, reason::kLoadBudgetBusy,
                {{"model", "small:1"}, {"required", std::to_string(kMiB)}, {"available", "0"}});
  ASSERT_TRUE(loader.Load(small));  // once loaded, "a:1" is evicted for it
  EXPECT_FALSE(loader.IsLoaded("a:1"));
}

TEST_F(LoaderTest, ManyThreadsLoadingAndUnloadingAtOnceLeaveNothingMapped) {
  Options options;
  options.max_loaded_bytes = 4 * kMiB;
  options.chunk_bytes = 256 << 10;
  Loader loader(options);
  std::vector<LoadSpec> specs;
  for (int i = 0; i < 4; ++i) specs.push_back(Model("m" + std::to_string(i) + ":1", 2 * kMiB));
  std::atomic<int> loaded{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 150; ++i) {
        const LoadSpec& spec = specs[rng() % specs.size()];
        switch (rng() % 6) {
          case 0:
          case 1: {
            Result<LoadInfo> r = loader.Load(spec);
            if (r) {
              EXPECT_EQ(r->bytes, 2 * kMiB);
              ++loaded;
            } else {
              // Unloaded by another thread meanwhile, or the budget held by two loads.
              EXPECT_TRUE(r.error().code() == Status::Code::kCancelled ||
                          r.error().code() == Status::Code::kUnavailable)
                  << r.error().ToString();
              ++failed;
            }
            break;
          }
          case 2:
            loader.Unload(spec.key);
            break;
          case 3:
            loader.Touch(spec.key);
            break;
          case 4:
            for (const LoadedModel& m : loader.List()) EXPECT_LE(m.resident_bytes, m.bytes);
            break;
          default:
            if (i % 25 == 0) loader.UnloadAll();
            break;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GT(loaded.load(), 0);
  uint64_t total = 0;
  for (const LoadedModel& m : loader.List()) total += m.bytes;
  EXPECT_LE(total, 4 * kMiB);
  loader.UnloadAll();
  loader.WaitForTimerForTest();
  for (const LoadSpec& spec : specs) EXPECT_EQ(MappingsOf(spec.files[0].path), 0) << spec.key;
}

// Takes CAP_IPC_LOCK out of this thread's effective capabilities for its scope (root
// ignores RLIMIT_MEMLOCK); it stays permitted, so it can be put back. Capabilities are per
// thread, and the mlock runs on the thread calling Load.
class WithoutIpcLock {
 public:
  WithoutIpcLock() {
    header_.version = _LINUX_CAPABILITY_VERSION_3;
    header_.pid = 0;
    if (syscall(SYS_capget, &header_, saved_) != 0) return;
    __user_cap_data_struct data[2] = {saved_[0], saved_[1]};
    data[CAP_TO_INDEX(CAP_IPC_LOCK)].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
    dropped_ = syscall(SYS_capset, &header_, data) == 0;
  }
  ~WithoutIpcLock() {
    if (dropped_) syscall(SYS_capset, &header_, saved_);
  }

 private:
  __user_cap_header_struct header_{};
  __user_cap_data_struct saved_[2]{};
  bool dropped_ = false;
};

// Lowers RLIMIT_MEMLOCK's soft limit for its scope.
class MemlockLimit {
 public:
  explicit MemlockLimit(rlim_t bytes) {
    getrlimit(RLIMIT_MEMLOCK, &saved_);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_MEMLOCK, &lowered), 0);
  }
  ~MemlockLimit() { setrlimit(RLIMIT_MEMLOCK, &saved_); }

 private:
  rlimit saved_{};
};

// The sanitizers' runtimes replace mlock with a no-op that succeeds (their shadow memory
// could never be locked), so the limit cannot be seen under them.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kMlockIntercepted = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kMlockIntercepted = true;
#else
constexpr bool kMlockIntercepted = false;
#endif
#else
constexpr bool kMlockIntercepted = false;
#endif

TEST_F(LoaderTest, MlockBeyondRlimitMemlockGivesTheLimitAndHowToRaiseIt) {
  if (kMlockIntercepted) GTEST_SKIP() << "a sanitizer's runtime makes mlock a no-op";
  Loader loader;
  LoadSpec spec = Model("m:1", 2 * kMiB);
  spec.mlock = true;
  {
    WithoutIpcLock no_cap;
    MemlockLimit limit(64 << 10);
    const std::map<std::string, std::string> fields = {
        {"model", "m:1"}, {"required", std::to_string(2 * kMiB)}, {"limit", "65536"}};
    Result<LoadInfo> r = loader.Load(spec);
    ExpectFailure(r, Status::Code::kFailedPrecondition, reason::kMemlockLimit, fields);
    EXPECT_NE(r.error().message().find("ulimit -l"), std::string::npos);
    EXPECT_NE(r.error().message().find("LimitMEMLOCK"), std::string::npos);
    EXPECT_FALSE(loader.IsLoaded("m:1"));
    EXPECT_EQ(MappingsOf(spec.files[0].path), 0);

    // Loaded without mlock, then asked with it: refused the same way, and stays loaded.
    spec.mlock = false;
    Result<LoadInfo> plain = loader.Load(spec);
    ASSERT_TRUE(plain);
    spec.mlock = true;
    r = loader.Load(spec);
    ExpectFailure(r, Status::Code::kFailedPrecondition, reason::kMemlockLimit, fields);
    EXPECT_TRUE(loader.IsLoaded("m:1"));
  }
  // Under this process's own limit (most systems give 8 MiB; root has CAP_IPC_LOCK) the
  // same model locks now, and keeps its instance.
  Result<LoadInfo> r = loader.Load(spec);
  if (!r && r.error().info() != nullptr && r.error().info()->reason == reason::kMemlockLimit) {
    GTEST_SKIP() << "RLIMIT_MEMLOCK here is below 2 MiB: " << r.error().ToString();
  }
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->mlocked);
  std::vector<LoadedModel> list = loader.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_TRUE(list[0].mlocked);
}

}  // namespace
}  // namespace modeld::loader
