#include "formats/safetensors.h"

#include <gtest/gtest.h>

#include "expect_corrupt.h"
#include "gguf_writer.h"
#include "safetensors_writer.h"
#include "temp_dir.h"

namespace modeld::formats {
namespace {

using testing::EncodeSafetensors;
using testing::EncodeSafetensorsRaw;

Result<SafetensorsFile> ParseSafetensors(const std::string& bytes) {
  return ReadSafetensors(MemorySource(bytes, "m.safetensors"));
}

void ExpectSafetensorsCorrupt(const std::string& bytes, const std::string& what) {
  testing::ExpectCorrupt(ParseSafetensors(bytes), {"m.safetensors", what});
}

// A header holding one tensor |info| and |data| bytes after it.
std::string OneTensor(const std::string& info, uint64_t data) {
  return EncodeSafetensorsRaw("{\"t\":" + info + "}", data);
}

TEST(SafetensorsTest, ReadsTensorsAndMetadata) {
  std::string bytes = EncodeSafetensors({{"model.embed.weight", "BF16", {100, 64}},
                                         {"model.norm.weight", "F32", {64}},
                                         {"scalar", "I64", {}},
                                         {"empty", "F16", {0, 4}},
                                         {"mask", "BOOL", {3}}},
                                        {{"format", "pt"}});
  auto f = ParseSafetensors(bytes);
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  EXPECT_EQ(f->metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(f->header_size % 8, 0u);  // padded as safetensors pads
  EXPECT_EQ(f->data_offset, 8 + f->header_size);
  EXPECT_EQ(f->file_size, bytes.size());
  ASSERT_EQ(f->tensors.size(), 5u);
  EXPECT_EQ(f->tensors[0].name, "empty");  // sorted by name
  EXPECT_EQ(f->tensors[0].elements, 0u);
  const SafetensorsTensor& embed = f->tensors[2];
  EXPECT_EQ(embed.name, "model.embed.weight");
  EXPECT_EQ(embed.dtype, "BF16");
  EXPECT_EQ(embed.shape, (std::vector<uint64_t>{100, 64}));
  EXPECT_EQ(embed.elements, 6400u);
  EXPECT_EQ(embed.end - embed.begin, 12800u);
  EXPECT_EQ(f->tensors[4].elements, 1u);  // a scalar

  testing::ScopedTempDir dir;
  ASSERT_TRUE(testing::WriteBytes(dir.path() / "m.safetensors", bytes).ok());
  auto from_file = ReadSafetensorsFile(dir.path() / "m.safetensors");
  ASSERT_TRUE(from_file.has_value());
  EXPECT_EQ(*from_file, *f);
}

TEST(SafetensorsTest, SubByteDtypesCountBits) {
  EXPECT_TRUE(ParseSafetensors(OneTensor(R"({"dtype":"F4","shape":[2,3],"data_offsets":[0,3]})", 3))
                  .has_value());
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F4","shape":[3],"data_offsets":[0,2]})", 2),
                           "3 elements of F4 in 2 bytes");
  EXPECT_TRUE(
      ParseSafetensors(OneTensor(R"({"dtype":"F6_E2M3","shape":[4],"data_offsets":[0,3]})", 3))
          .has_value());
}

TEST(SafetensorsTest, HeadersLongerThanTheCapOrTheFileAreRefused) {
  // 100 MB claimed: refused before anything is allocated for it.
  std::string b(8, '\0');
  uint64_t n = 100'000'000;
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  b += "{}";
  ExpectSafetensorsCorrupt(
      b, "the header claims 100000000 bytes, more than the 33554432 modeld reads");
  n = 1000;
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  ExpectSafetensorsCorrupt(b, "the header claims 1000 bytes; the file has 2 left");
  for (int i = 0; i < 8; ++i) b[i] = '\xFF';
  ExpectSafetensorsCorrupt(b, "the header claims 18446744073709551615 bytes");
  ExpectSafetensorsCorrupt("", "truncated reading the header length");
  ExpectSafetensorsCorrupt("\x02\0\0\0", "truncated");
}

TEST(SafetensorsTest, EveryTruncationIsCorrupt) {
  std::string bytes = EncodeSafetensors({{"a", "F32", {4, 4}}, {"b", "U8", {7}}});
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    auto f = ParseSafetensors(bytes.substr(0, cut));
    ASSERT_FALSE(f.has_value()) << cut;
    ASSERT_EQ(f.error().code(), Status::Code::kCorrupt) << f.error().ToString();
  }
}

TEST(SafetensorsTest, MalformedTensorsAreRefused) {
  ExpectSafetensorsCorrupt(EncodeSafetensorsRaw("[1,2]", 0), "the header is not a JSON object");
  ExpectSafetensorsCorrupt(EncodeSafetensorsRaw(" {}", 0), "the header is not a JSON object");
  ExpectSafetensorsCorrupt(EncodeSafetensorsRaw("{\"a\":", 0), "m.safetensors header");
  ExpectSafetensorsCorrupt(EncodeSafetensorsRaw("{" + std::string(200, '[') + "}", 0), "header");
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})", 4),
                           "tensor 't' has a dimension that is not a non-negative integer: -1");
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})", 4),
                           "not a non-negative integer");
  ExpectSafetensorsCorrupt(
      OneTensor(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})", 4),
      "a shape whose size overflows");
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F33","shape":[1],"data_offsets":[0,4]})", 4),
                           "unknown dtype 'F33'");
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", 4),
                           "has 2 elements of F32 in 4 bytes");
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})", 4),
                           "invalid data_offsets [4,0]");
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})", 4),
                           "no \"data_offsets\" pair");
  ExpectSafetensorsCorrupt(OneTensor(R"({"dtype":"F32","shape":[1],"data_offsets":[4,8]})", 4),
                           "ends at data offset 8, past the 4 bytes of data in the file");
  ExpectSafetensorsCorrupt(
      OneTensor(R"({"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]})", 4),
      "past the 4 bytes");
  ExpectSafetensorsCorrupt(OneTensor(R"({"shape":[1],"data_offsets":[0,4]})", 4),
                           "no string \"dtype\"");
  ExpectSafetensorsCorrupt(OneTensor(R"([1])", 4), "tensor 't' is not an object");
  ExpectSafetensorsCorrupt(EncodeSafetensorsRaw(R"({"__metadata__":{"a":1}})", 0),
                           "__metadata__ 'a' is not a string");
  ExpectSafetensorsCorrupt(EncodeSafetensorsRaw(R"({"__metadata__":[]})", 0),
                           "__metadata__ is not an object");
  ExpectSafetensorsCorrupt(EncodeSafetensorsRaw("{\"\xFF\":1}", 0),
                           "m.safetensors header");  // not UTF-8
}

TEST(SafetensorsTest, ReadsAnIndex) {
  auto index = ParseSafetensorsIndex(R"({"metadata": {"total_size": 1234},
      "weight_map": {"a": "model-00001-of-00002.safetensors",
                     "b": "model-00002-of-00002.safetensors",
                     "c": "model-00001-of-00002.safetensors"}})",
                                     "index.json");
  ASSERT_TRUE(index.has_value()) << index.error().ToString();
  EXPECT_EQ(index->total_size, 1234u);
  EXPECT_EQ(index->Shards(), (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                                       "model-00002-of-00002.safetensors"}));
  for (std::string bad : {R"({})", R"({"weight_map": []})", R"({"weight_map": {"a": 1}})",
                          R"({"weight_map": {"a": ""}})", "[]", "{"}) {
    testing::ExpectCorrupt(ParseSafetensorsIndex(bad, "index.json"), {"index.json"}, bad);
  }
}

}  // namespace
}  // namespace modeld::formats
