#include "engine/journal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace modeld::engine {
namespace {

namespace fs = std::filesystem;

class JournalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("modeld_journal_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = dir_ / "f.part.journal";
  }
  void TearDown() override { fs::remove_all(dir_); }

  JournalState State(uint64_t upto) {
    JournalState s;
    s.url = "http://127.0.0.1/x";
    s.etag = "\"abc\"";
    s.last_modified = "Sun, 06 Nov 1994 08:49:37 GMT";
    s.size = 1000;
    s.written = {{0, upto}, {900, 1000}};
    return s;
  }

  fs::path dir_;
  fs::path path_;
};

TEST_F(JournalTest, MissingFileLoadsAsNothing) {
  auto r = Journal::Load(path_);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
}

TEST_F(JournalTest, LastRecordWins) {
  auto j = Journal::Open(path_);
  ASSERT_TRUE(j.has_value()) << j.error().ToString();
  ASSERT_TRUE(j->Append(State(100), true).ok());
  ASSERT_TRUE(j->Append(State(200), false).ok());
  auto r = Journal::Load(path_);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ(**r, State(200));
}

TEST_F(JournalTest, TornLastRecordFallsBackToThePreviousOne) {
  {
    auto j = Journal::Open(path_);
    ASSERT_TRUE(j.has_value());
    ASSERT_TRUE(j->Append(State(100), true).ok());
    ASSERT_TRUE(j->Append(State(300), true).ok());
  }
  // Cut the file at every byte of the last record: never an error, always record 1.
  std::ifstream in(path_, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  size_t len1 = 8;  // magic
  {
    uint32_t l = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8 |
                 static_cast<unsigned char>(bytes[10]) << 16;
    len1 += 8 + l;
  }
  for (size_t cut = len1; cut < bytes.size(); ++cut) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc).write(bytes.data(), cut);
    auto r = Journal::Load(path_);
    ASSERT_TRUE(r.has_value()) << cut;
    ASSERT_TRUE(r->has_value()) << cut;
    EXPECT_EQ(**r, State(100)) << "cut at " << cut;
  }
  // A flipped byte in the last record's payload is caught by the CRC.
  std::string flipped = bytes;
  flipped[bytes.size() - 3] ^= 0x40;
  std::ofstream(path_, std::ios::binary | std::ios::trunc).write(flipped.data(), flipped.size());
  auto r = Journal::Load(path_);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ(**r, State(100));
}

TEST_F(JournalTest, ZeroFilledFileIsRejectedNotTrusted) {
  std::string zeros(4096, '\0');
  std::ofstream(path_, std::ios::binary).write(zeros.data(), zeros.size());
  auto r = Journal::Load(path_);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), Status::Code::kCorrupt);
}

TEST_F(JournalTest, CompactsWhenLarge) {
  auto j = Journal::Open(path_);
  ASSERT_TRUE(j.has_value());
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(j->Append(State(i % 900), false).ok());
  EXPECT_LT(fs::file_size(path_), Journal::kCompactBytes);
  auto r = Journal::Load(path_);
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ(**r, State(19999 % 900));
}

// A journal file whose records carry |payloads| with correct lengths and CRCs.
std::string JournalBytes(const std::vector<std::string>& payloads) {
  std::string out = "MDJRNL1\n";
  auto put = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  for (const auto& p : payloads) {
    put(static_cast<uint32_t>(p.size()));
    put(Crc32(p.data(), p.size()));
    out += p;
  }
  return out;
}

TEST_F(JournalTest, DecodeReadsWhatLoadReads) {
  {
    auto j = Journal::Open(path_);
    ASSERT_TRUE(j.has_value());
    ASSERT_TRUE(j->Append(State(100), false).ok());
    ASSERT_TRUE(j->Append(State(200), false).ok());
  }
  std::ifstream in(path_, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto r = Journal::Decode(bytes, "test");
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ(**r, State(200));
  EXPECT_EQ(**Journal::Load(path_), **r);
}

TEST(JournalDecodeTest, EncodeRoundTrips) {
  JournalState s{"https://example.org/a b", "W/\"x\"", "", std::nullopt, {{0, 0}, {5, 1ull << 63}}};
  auto r = Journal::Decode(Journal::Encode(s), "test");
  ASSERT_TRUE(r.has_value() && r->has_value());
  EXPECT_EQ(**r, s);
}

TEST(JournalDecodeTest, EmptyOrForeignBytes) {
  auto empty = Journal::Decode("", "test");
  ASSERT_TRUE(empty.has_value());
  EXPECT_FALSE(empty->has_value());
  auto foreign = Journal::Decode("MDJRNL2\n", "test");
  ASSERT_FALSE(foreign.has_value());
  EXPECT_EQ(foreign.error().code(), Status::Code::kCorrupt);
  auto only_magic = Journal::Decode("MDJRNL1\n\xff\xff\xff\xff", "test");
  ASSERT_TRUE(only_magic.has_value());
  EXPECT_FALSE(only_magic->has_value());
}

// Regression: numbers that are not unsigned integers were converted with get<int> and
// get<uint64_t>, which is undefined behaviour for 1e300 (UBSan float-cast-overflow) and
// wraps -1 into a huge offset. Such records are now invalid; the one before them wins.
TEST(JournalDecodeTest, NumbersThatAreNotByteCountsInvalidateTheRecord) {
  const std::string good = R"({"v":1,"url":"u","size":10,"written":[[0,5]]})";
  for (const std::string bad : {
           R"({"v":1e300,"written":[]})",
           R"({"v":1.0,"written":[]})",
           R"({"v":-1,"written":[]})",
           R"({"v":1,"size":1e300,"written":[]})",
           R"({"v":1,"size":-1,"written":[]})",
           R"({"v":1,"size":2.5,"written":[]})",
           R"({"v":1,"written":[[-1,5]]})",
           R"({"v":1,"written":[[0,1e300]]})",
           R"({"v":1,"written":[[6,5]]})",
           R"({"v":1,"written":[[0]]})",
           R"({"v":1,"written":{"a":1}})",
           R"({"v":1,"url":7,"written":[]})",
       }) {
    auto r = Journal::Decode(JournalBytes({good, bad}), "test");
    ASSERT_TRUE(r.has_value()) << bad;
    ASSERT_TRUE(r->has_value()) << bad;
    EXPECT_EQ((*r)->size, 10u) << bad;
    EXPECT_EQ((*r)->written, (std::vector<ByteRange>{{0, 5}})) << bad;
  }
}

// A record that is whole (its CRC checks out) but not what the journal writes, a bug or
// a hand edit, is skipped: Load used to throw out of j.value("v", 0) on a string "v".
TEST_F(JournalTest, MalformedRecordWithAValidCrcIsSkippedNotThrown) {
  {
    auto j = Journal::Open(path_);
    ASSERT_TRUE(j.has_value());
    ASSERT_TRUE(j->Append(State(100), true).ok());
  }
  auto record = [](const std::string& payload) {
    std::string rec;
    auto put = [&](uint32_t v) {
      for (int i = 0; i < 4; ++i) rec.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    put(static_cast<uint32_t>(payload.size()));
    put(Crc32(payload.data(), payload.size()));
    return rec + payload;
  };
  for (const char* payload :
       {R"({"v":"1","written":[]})", R"({"v":1,"url":5,"written":[]})",
        R"({"v":1,"size":-5,"written":[]})", R"({"v":1,"size":1.5,"written":[]})",
        R"({"v":1,"written":[[0]]})", R"({"v":1,"written":[["0","9"]]})",
        R"({"v":1,"written":{"a":1}})", R"({"v":1})", R"([1,2])", R"("text")"}) {
    std::ofstream(path_, std::ios::binary | std::ios::app) << record(payload);
    Result<std::optional<JournalState>> r = Status::Internal("not loaded");
    ASSERT_NO_THROW(r = Journal::Load(path_)) << payload;
    ASSERT_TRUE(r.has_value()) << payload;
    ASSERT_TRUE(r->has_value()) << payload;
    EXPECT_EQ(**r, State(100)) << payload;
  }
}

// Ranges recorded as cached (written, not yet synced) count on the boot that wrote them
// (a kill -9 keeps the page cache) and not after a restart (power loss may not have).
TEST_F(JournalTest, CachedRangesCountOnlyOnTheBootThatWroteThem) {
  ASSERT_FALSE(CurrentBootId().empty());
  JournalState s = State(100);
  s.written = {{0, 100}};
  s.cached = {{100, 300}, {900, 1000}};
  for (const std::string& boot : {CurrentBootId(), std::string("another-boot")}) {
    s.boot_id = boot;
    fs::remove(path_);
    {
      auto j = Journal::Open(path_);
      ASSERT_TRUE(j.has_value());
      ASSERT_TRUE(j->Append(s, false).ok());
    }
    std::ifstream in(path_, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    auto raw = Journal::Decode(bytes, "test");
    ASSERT_TRUE(raw.has_value() && raw->has_value());
    EXPECT_EQ(**raw, s) << "Decode keeps the fields as recorded";
    auto r = Journal::Load(path_);
    ASSERT_TRUE(r.has_value() && r->has_value());
    EXPECT_TRUE((*r)->cached.empty());
    if (boot == CurrentBootId()) {
      EXPECT_EQ((*r)->written, (std::vector<ByteRange>{{0, 300}, {900, 1000}}));
    } else {
      EXPECT_EQ((*r)->written, (std::vector<ByteRange>{{0, 100}})) << "durable ranges only";
    }
  }
}

TEST(JournalDecodeTest, MalformedCachedRangesInvalidateTheRecord) {
  const std::string good = R"({"v":1,"url":"u","size":10,"written":[[0,5]]})";
  for (const std::string bad : {
           R"({"v":1,"written":[],"cached":[[0]],"boot":"b"})",
           R"({"v":1,"written":[],"cached":[[6,5]],"boot":"b"})",
           R"({"v":1,"written":[],"cached":{"a":1},"boot":"b"})",
           R"({"v":1,"written":[],"cached":[[0,5]],"boot":7})",
       }) {
    auto r = Journal::Decode(JournalBytes({good, bad}), "test");
    ASSERT_TRUE(r.has_value() && r->has_value()) << bad;
    EXPECT_EQ((*r)->written, (std::vector<ByteRange>{{0, 5}})) << bad;
    EXPECT_TRUE((*r)->cached.empty()) << bad;
  }
}

TEST(Crc32Test, KnownVector) { EXPECT_EQ(Crc32("123456789", 9), 0xCBF43926u); }

}  // namespace
}  // namespace modeld::engine
