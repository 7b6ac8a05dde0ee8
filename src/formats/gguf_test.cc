#include "formats/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "expect_corrupt.h"
#include "fixtures.h"
#include "formats/ggml_types.h"
#include "gguf_writer.h"
#include "temp_dir.h"

namespace modeld::formats {
namespace {

using testing::AppendGgufString;
using testing::AppendTensorInfo;
using testing::AppendU32;
using testing::AppendU64;
using testing::EncodeGguf;
using testing::EncodeGgufHeader;

constexpr uint32_t kF32 = 0, kQ8_0 = 8, kQ4_K = 12;

Result<GgufFile> Parse(const std::string& bytes) { return ReadGguf(MemorySource(bytes, "m.gguf")); }

// A Corrupt status whose message names the file and contains |what|.
void ExpectCorrupt(const std::string& bytes, const std::string& what) {
  testing::ExpectCorrupt(Parse(bytes), {"m.gguf: ", what});
}

// A header with no key/values and one tensor info, padded and followed by |data| bytes.
std::string OneTensor(const std::vector<uint64_t>& dims, uint32_t type, uint64_t offset,
                      uint64_t data) {
  std::string b = EncodeGgufHeader(3, 1, 0, {});
  AppendTensorInfo(&b, "t", dims, type, offset);
  b.resize((b.size() + 31) / 32 * 32 + data, '\0');
  return b;
}

TEST(GgufTest, ReadsEveryValueTypeOfVersion3And2) {
  for (uint32_t version : {3u, 2u}) {
    testing::GgufSpec spec = testing::AllTypesGguf(version);
    std::string bytes = EncodeGguf(spec);
    auto f = Parse(bytes);
    ASSERT_TRUE(f.has_value()) << f.error().ToString();
    EXPECT_EQ(f->version, version);
    EXPECT_EQ(f->metadata, spec.metadata);  // every key, type and value, in file order
    EXPECT_EQ(f->file_size, bytes.size());
    EXPECT_EQ(f->alignment, 32u);
    EXPECT_EQ(f->data_offset % 32, 0u);
    ASSERT_EQ(f->tensors.size(), spec.tensors.size());
    for (size_t i = 0; i < spec.tensors.size(); ++i) {
      EXPECT_EQ(f->tensors[i].name, spec.tensors[i].name);
      EXPECT_EQ(f->tensors[i].dims, spec.tensors[i].dims);
      EXPECT_EQ(f->tensors[i].ggml_type, spec.tensors[i].ggml_type);
      EXPECT_EQ(f->tensors[i].offset % 32, 0u);
    }
    // Q8_0 [64, 100]: 200 blocks of 34 bytes; Q4_K [256, 64]: 64 blocks of 144.
    EXPECT_EQ(f->tensors[0].elements, 6400u);
    EXPECT_EQ(f->tensors[0].bytes, 6800u);
    EXPECT_EQ(f->tensors[1].bytes, 64u * 144);
    EXPECT_EQ(f->tensors.back().dims.size(), 0u);  // a scalar: one element
    EXPECT_EQ(f->tensors.back().elements, 1u);
    // Written back it is the same file.
    EXPECT_EQ(EncodeGguf(*f), bytes);
  }
}

TEST(GgufTest, AccessorsWidenAndKeepBits) {
  auto f = Parse(EncodeGguf(testing::AllTypesGguf(3)));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->Find("test.uint64")->AsUint(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f->Find("test.uint64")->AsInt(), std::nullopt);
  EXPECT_EQ(f->Find("test.int8")->AsInt(), -128);
  EXPECT_EQ(f->Find("test.int8")->AsUint(), std::nullopt);
  EXPECT_EQ(f->Find("test.uint16")->AsUint(), 65535u);
  EXPECT_FLOAT_EQ(*f->Find("test.float32")->AsFloat32(), 3.14159f);
  EXPECT_TRUE(std::isnan(*f->Find("test.float32_nan")->AsDouble()));
  EXPECT_TRUE(std::signbit(*f->Find("test.float32_neg_zero")->AsDouble()));
  EXPECT_EQ(f->Find("test.bool_true")->AsBool(), true);
  EXPECT_EQ(*f->Find("test.string_invalid_utf8")->AsString(), "ab\xFF\xC3(x\xE2\x82");
  const GgufArray* nested = f->Find("test.array.nested")->AsArray();
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->element_type, GgufType::kArray);
  ASSERT_EQ(nested->size, 3u);
  EXPECT_EQ(nested->arrays[0].Element(1).AsInt(), 2);
  EXPECT_EQ(nested->arrays[2].size, 0u);
  EXPECT_EQ(f->Find("test.array.uint64")->AsArray()->Element(1).AsUint(),
            std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f->Find("no.such.key"), nullptr);
}

TEST(GgufTest, HonoursGeneralAlignment) {
  testing::GgufSpec spec = testing::AllTypesGguf(3);
  spec.metadata.push_back(testing::KvU32("general.alignment", 64));
  auto f = Parse(EncodeGguf(spec));
  ASSERT_TRUE(f.has_value()) << f.error().ToString();
  EXPECT_EQ(f->alignment, 64u);
  EXPECT_EQ(f->data_offset % 64, 0u);
  for (const GgufTensor& t : f->tensors) EXPECT_EQ(t.offset % 64, 0u) << t.name;

  for (uint32_t bad : {0u, 3u, 48u}) {
    testing::GgufSpec b;
    b.metadata.push_back(testing::KvU32("general.alignment", bad));
    ExpectCorrupt(EncodeGguf(b), "general.alignment must be a power of two");
  }
}

TEST(GgufTest, ReadsFilesAndMemoryAlike) {
  testing::ScopedTempDir dir;
  std::string bytes = EncodeGguf(testing::AllTypesGguf(3));
  ASSERT_TRUE(testing::WriteBytes(dir.path() / "m.gguf", bytes).ok());
  auto from_file = ReadGgufFile(dir.path() / "m.gguf");
  ASSERT_TRUE(from_file.has_value()) << from_file.error().ToString();
  EXPECT_EQ(*from_file, *Parse(bytes));
  auto missing = ReadGgufFile(dir.path() / "nope.gguf");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Status::Code::kNotFound);
}

TEST(GgufTest, HugeCountsAreRefusedBeforeAllocating) {
  ExpectCorrupt(EncodeGgufHeader(3, uint64_t{1} << 60, 0, {}),
                "claims 1152921504606846976 tensors");
  ExpectCorrupt(EncodeGgufHeader(3, 0, uint64_t{1} << 60, {}),
                "claims 1152921504606846976 key/values");
  ExpectCorrupt(EncodeGgufHeader(3, 0, ~uint64_t{0}, {}), "key/values");
  // An array claiming 2^60 elements.
  std::string b = EncodeGgufHeader(3, 0, 1, {});
  AppendGgufString(&b, "a");
  AppendU32(&b, static_cast<uint32_t>(GgufType::kArray));
  AppendU32(&b, static_cast<uint32_t>(GgufType::kUint64));
  AppendU64(&b, uint64_t{1} << 60);
  ExpectCorrupt(b, "claims 1152921504606846976 elements of type UINT64");
  // An array of 2^40 arrays, each needing at least 12 bytes.
  b = EncodeGgufHeader(3, 0, 1, {});
  AppendGgufString(&b, "a");
  AppendU32(&b, static_cast<uint32_t>(GgufType::kArray));
  AppendU32(&b, static_cast<uint32_t>(GgufType::kArray));
  AppendU64(&b, uint64_t{1} << 40);
  b.append(100, '\0');
  ExpectCorrupt(b, "elements of type ARRAY");
}

TEST(GgufTest, StringsLongerThanTheFileAreRefused) {
  std::string b = EncodeGgufHeader(3, 0, 1, {});
  AppendU64(&b, uint64_t{1} << 62);  // the key's length
  b.append("key");
  b.append(20, '\0');
  ExpectCorrupt(b, "the key of key/value 0 claims 4611686018427387904 bytes");
  b = EncodeGgufHeader(3, 0, 1, {});
  AppendGgufString(&b, "k");
  AppendU32(&b, static_cast<uint32_t>(GgufType::kString));
  AppendU64(&b, 1000);
  b.append("short");
  ExpectCorrupt(b, "the value of 'k' claims 1000 bytes, more than the 5 left");
}

TEST(GgufTest, EveryTruncationIsCorrupt) {
  testing::GgufSpec spec = testing::AllTypesGguf(3);
  std::string bytes = EncodeGguf(spec);
  auto whole = Parse(bytes);
  ASSERT_TRUE(whole.has_value());
  uint64_t end = 0;  // the last tensor's last byte: the padding after it is optional
  for (const GgufTensor& t : whole->tensors) {
    end = std::max(end, whole->data_offset + t.offset + t.bytes);
  }
  // Every cut inside the header; in the tensor data (all zeros), every 61st.
  for (size_t n = 0; n < end; n += n < whole->data_offset ? 1 : 61) {
    auto f = Parse(bytes.substr(0, n));
    ASSERT_FALSE(f.has_value()) << "a file cut at " << n << " of " << bytes.size();
    ASSERT_EQ(f.error().code(), Status::Code::kCorrupt) << f.error().ToString();
  }
  EXPECT_TRUE(Parse(bytes.substr(0, end)).has_value());
  // Cut inside the tensor data: the message says so.
  ExpectCorrupt(bytes.substr(0, end - 1), "runs past the end of the file");
}

TEST(GgufTest, DimensionsThatOverflowAreRefused) {
  ExpectCorrupt(OneTensor({uint64_t{1} << 32, uint64_t{1} << 32}, kF32, 0, 0),
                "the dimensions of tensor 't' (4294967296 x 4294967296) overflow");
  ExpectCorrupt(OneTensor({uint64_t{1} << 62, 4}, kF32, 0, 0), "overflow");
  // A "negative" dimension (above INT64_MAX, as ggml's int64_t ne would read it).
  ExpectCorrupt(OneTensor({~uint64_t{0}}, kF32, 0, 0), "overflow");
  // Elements fit, bytes do not: 2^62 F64... as F32 2^62 * 4.
  ExpectCorrupt(OneTensor({uint64_t{1} << 62}, kF32, 0, 0), "the size of tensor 't' overflows");
}

TEST(GgufTest, MoreThanFourDimensionsAreRefused) {
  ExpectCorrupt(OneTensor({1, 1, 1, 1, 1}, kF32, 0, 4),
                "tensor 't' has 5 dimensions; ggml allows at most 4");
  std::string b = EncodeGgufHeader(3, 1, 0, {});
  AppendGgufString(&b, "t");
  AppendU32(&b, 0xFFFFFFFF);
  b.append(20, '\0');
  ExpectCorrupt(b, "has 4294967295 dimensions");
}

TEST(GgufTest, NonUtf8KeysAndTensorNamesAreRefused) {
  std::string b = EncodeGgufHeader(3, 0, 1, {{"bad\xFF", GgufValue::Bool(true)}});
  ExpectCorrupt(b, "the key of key/value 0 is not valid UTF-8");
  b = EncodeGgufHeader(3, 0, 1, {{"\xED\xA0\x80", GgufValue::Bool(true)}});  // a surrogate
  ExpectCorrupt(b, "is not valid UTF-8");
  b = EncodeGgufHeader(3, 1, 0, {});
  AppendTensorInfo(&b, "t\xC0\xAF", {32}, kF32, 0);
  b.resize(256, '\0');
  ExpectCorrupt(b, "the name of tensor 0 is not valid UTF-8");
}

TEST(GgufTest, UnknownTypesAreRefused) {
  std::string b = EncodeGgufHeader(3, 0, 1, {});
  AppendGgufString(&b, "k");
  AppendU32(&b, 13);
  b.append(8, '\0');
  ExpectCorrupt(b, "key 'k' has unknown value type 13");
  b = EncodeGgufHeader(3, 0, 1, {});
  AppendGgufString(&b, "k");
  AppendU32(&b, static_cast<uint32_t>(GgufType::kArray));
  AppendU32(&b, 99);
  AppendU64(&b, 0);
  ExpectCorrupt(b, "unknown element type 99");
  ExpectCorrupt(OneTensor({32}, 4, 0, 128), "tensor 't' has unknown ggml type 4");  // Q4_2
  ExpectCorrupt(OneTensor({32}, 1000, 0, 128), "unknown ggml type 1000");
}

TEST(GgufTest, ArraysNestedTooDeepAreRefused) {
  GgufArray a = testing::MakeArray(GgufType::kUint8, {});
  for (int i = 1; i < kMaxGgufArrayNesting; ++i) a = testing::MakeNestedArray({a});
  EXPECT_TRUE(Parse(EncodeGgufHeader(3, 0, 1, {{"k", GgufValue::Array(a)}})).has_value());
  a = testing::MakeNestedArray({a});
  ExpectCorrupt(EncodeGgufHeader(3, 0, 1, {{"k", GgufValue::Array(a)}}),
                "nests arrays more than 4");
}

TEST(GgufTest, BadHeadersAndLayoutsAreRefused) {
  ExpectCorrupt("", "truncated reading the magic");
  ExpectCorrupt("GGML\x03\0\0\0", "not a GGUF file");
  ExpectCorrupt(EncodeGgufHeader(1, 0, 0, {}), "GGUF version 1 is not supported");
  ExpectCorrupt(EncodeGgufHeader(0x03000000, 0, 0, {}), "version 50331648 is not supported");
  ExpectCorrupt(
      EncodeGgufHeader(3, 0, 2, {{"k", GgufValue::Bool(true)}, {"k", GgufValue::Bool(false)}}),
      "the key 'k' appears twice");
  std::string b = EncodeGgufHeader(3, 2, 0, {});
  AppendTensorInfo(&b, "t", {32}, kF32, 0);
  AppendTensorInfo(&b, "t", {32}, kF32, 128);
  b.resize(512, '\0');
  ExpectCorrupt(b, "the tensor 't' appears twice");
  ExpectCorrupt(OneTensor({32}, kF32, 16, 256),
                "has offset 16, not a multiple of the alignment 32");
  ExpectCorrupt(OneTensor({32}, kF32, 32, 128), "runs past the end of the file");
  ExpectCorrupt(OneTensor({16}, kQ8_0, 0, 64),
                "first dimension of 16, not a multiple of its block size 32");
  ExpectCorrupt(OneTensor({128, 2}, kQ4_K, 0, 1024), "not a multiple of its block size 256");
  EXPECT_TRUE(Parse(OneTensor({32}, kF32, 0, 128)).has_value());
  EXPECT_TRUE(Parse(OneTensor({32}, kF32, ~uint64_t{0} - 31, 128))
                  .error()
                  .message()
                  .find("runs past the end") != std::string::npos);
}

TEST(GgufTest, JsonKeepsSmallValuesAndSummarizesLargeOnes) {
  auto f = Parse(EncodeGguf(testing::AllTypesGguf(3)));
  ASSERT_TRUE(f.has_value());
  nlohmann::json j = GgufMetadataToJson(*f);
  EXPECT_EQ(j["general.architecture"], "llama");
  EXPECT_EQ(j["test.uint64"], std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(j["test.int64"], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(j["test.bool_true"], true);
  EXPECT_TRUE(j["test.float32_nan"].is_null());
  EXPECT_TRUE(j["test.float64_inf"].is_null());
  EXPECT_EQ(j["test.string_invalid_utf8"], "ab\xEF\xBF\xBD\xEF\xBF\xBD(x\xEF\xBF\xBD");
  EXPECT_EQ(j["test.array.nested"], nlohmann::json::parse("[[1,2],[3],[]]"));
  EXPECT_EQ(j["test.array.float32"][0], 1.5);
  EXPECT_EQ(j["tokenizer.ggml.tokens"], nlohmann::json::parse(R"({"type":"STRING","length":100})"));
  EXPECT_EQ(j["tokenizer.ggml.scores"],
            nlohmann::json::parse(R"({"type":"FLOAT32","length":100})"));
  EXPECT_NO_THROW(j.dump());  // valid UTF-8 throughout
  EXPECT_EQ(GgufValueToJson(GgufValue::String(std::string(10, 'x')), {64, 9}),
            nlohmann::json::parse(R"({"type":"STRING","length":10})"));
  GgufArray exactly = testing::MakeArray(GgufType::kUint8, std::vector<GgufValue>(64));
  EXPECT_EQ(GgufValueToJson(GgufValue::Array(exactly)).size(), 64u);
}

TEST(GgufTest, TypeTables) {
  EXPECT_EQ(GgufTypeName(GgufType::kFloat64), "FLOAT64");
  EXPECT_EQ(GgufTypeSize(GgufType::kUint16), 2u);
  EXPECT_EQ(GgmlType(12)->name, "Q4_K");
  EXPECT_EQ(GgmlType(12)->block_bytes, 144u);
  EXPECT_EQ(GgmlType(39)->name, "MXFP4");
  EXPECT_FALSE(GgmlType(5).has_value());
  EXPECT_FALSE(GgmlType(40).has_value());
  EXPECT_EQ(LlamaFileTypeName(15), "Q4_K_M");
  EXPECT_EQ(LlamaFileTypeName(7), "Q8_0");
  EXPECT_EQ(LlamaFileTypeName(1), "F16");
  EXPECT_EQ(LlamaFileTypeName(32), "BF16");
  EXPECT_EQ(LlamaFileTypeName(1024 + 18), "Q6_K");  // LLAMA_FTYPE_GUESSED
  EXPECT_FALSE(LlamaFileTypeName(6).has_value());
  EXPECT_FALSE(LlamaFileTypeName(1000).has_value());
}

}  // namespace
}  // namespace modeld::formats
