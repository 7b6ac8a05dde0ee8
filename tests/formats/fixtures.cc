#include "fixtures.h"

#include <limits>

namespace modeld::testing {

using formats::GgufArray;
using formats::GgufKeyValue;
using formats::GgufType;
using formats::GgufValue;

namespace {

constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kBF16 = 30;

GgufValue U(GgufType t, uint64_t v) { return GgufValue::Unsigned(t, v); }
GgufValue I(GgufType t, int64_t v) { return GgufValue::Signed(t, v); }
GgufValue S(std::string s) { return GgufValue::String(std::move(s)); }
GgufValue A(GgufArray a) { return GgufValue::Array(std::move(a)); }

std::vector<GgufKeyValue> GeneralKeys() {
  return {
      KvString("general.architecture", "llama"),
      KvString("general.name", "modeld test model"),
      KvU32("general.file_type", 15),
      KvU32("llama.context_length", 4096),
      KvU32("llama.embedding_length", 64),
      KvU32("llama.block_count", 2),
  };
}

std::vector<GgufKeyValue> EveryType() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<GgufValue> tokens, scores;
  for (uint64_t i = 0; i < kAllTypesVocab; ++i) {
    tokens.push_back(S("tok" + std::to_string(i)));
    scores.push_back(GgufValue::Float32(-static_cast<float>(i) / 4));
  }
  return {
      {"test.uint8", U(GgufType::kUint8, 255)},
      {"test.int8", I(GgufType::kInt8, -128)},
      {"test.uint16", U(GgufType::kUint16, 65535)},
      {"test.int16", I(GgufType::kInt16, -32768)},
      {"test.uint32", U(GgufType::kUint32, 4294967295u)},
      {"test.int32", I(GgufType::kInt32, std::numeric_limits<int32_t>::min())},
      {"test.float32", GgufValue::Float32(3.14159f)},
      {"test.float32_nan", GgufValue::Float32(nan)},
      {"test.float32_neg_zero", GgufValue::Float32(-0.0f)},
      {"test.bool_true", GgufValue::Bool(true)},
      {"test.bool_false", GgufValue::Bool(false)},
      {"test.string", S("h\xC3\xA9llo, \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x98\x80")},
      {"test.string_empty", S("")},
      {"test.string_invalid_utf8", S("ab\xFF\xC3(x\xE2\x82")},
      {"test.string_surrogate", S("\xED\xA0\x80z")},
      {"test.uint64", U(GgufType::kUint64, std::numeric_limits<uint64_t>::max())},
      {"test.int64", I(GgufType::kInt64, std::numeric_limits<int64_t>::min())},
      {"test.float64", GgufValue::Float64(-2.5e-300)},
      {"test.float64_inf", GgufValue::Float64(inf)},
      {"test.float64_neg_inf", GgufValue::Float64(-inf)},
      {"test.array.uint8",
       A(MakeArray(GgufType::kUint8, {U(GgufType::kUint8, 0), U(GgufType::kUint8, 255)}))},
      {"test.array.int8",
       A(MakeArray(GgufType::kInt8, {I(GgufType::kInt8, -1), I(GgufType::kInt8, 127)}))},
      {"test.array.uint16",
       A(MakeArray(GgufType::kUint16, {U(GgufType::kUint16, 1), U(GgufType::kUint16, 65535)}))},
      {"test.array.int16", A(MakeArray(GgufType::kInt16, {I(GgufType::kInt16, -300)}))},
      {"test.array.uint32", A(MakeArray(GgufType::kUint32, {U(GgufType::kUint32, 7)}))},
      {"test.array.int32",
       A(MakeArray(GgufType::kInt32, {I(GgufType::kInt32, -7), I(GgufType::kInt32, 1 << 30)}))},
      {"test.array.float32",
       A(MakeArray(GgufType::kFloat32, {GgufValue::Float32(1.5f), GgufValue::Float32(-0.0f),
                                        GgufValue::Float32(nan)}))},
      {"test.array.bool",
       A(MakeArray(GgufType::kBool, {GgufValue::Bool(true), GgufValue::Bool(false)}))},
      {"test.array.string",
       A(MakeArray(GgufType::kString, {S("a"), S(""), S("\xC3\xBC"), S("\xC0\xAF")}))},
      {"test.array.uint64",
       A(MakeArray(
           GgufType::kUint64,
           {U(GgufType::kUint64, 0), U(GgufType::kUint64, std::numeric_limits<uint64_t>::max())}))},
      {"test.array.int64",
       A(MakeArray(GgufType::kInt64, {I(GgufType::kInt64, std::numeric_limits<int64_t>::min()),
                                      I(GgufType::kInt64, -1)}))},
      {"test.array.float64",
       A(MakeArray(GgufType::kFloat64, {GgufValue::Float64(1e308), GgufValue::Float64(-inf)}))},
      {"test.array.empty", A(MakeArray(GgufType::kInt32, {}))},
      {"test.array.empty_strings", A(MakeArray(GgufType::kString, {}))},
      {"test.array.nested",
       A(MakeNestedArray({
           MakeArray(GgufType::kInt32, {I(GgufType::kInt32, 1), I(GgufType::kInt32, 2)}),
           MakeArray(GgufType::kInt32, {I(GgufType::kInt32, 3)}),
           MakeArray(GgufType::kInt32, {}),
       }))},
      {"test.array.nested_strings",
       A(MakeNestedArray({
           MakeNestedArray({MakeArray(GgufType::kString, {S("a")}),
                            MakeArray(GgufType::kString, {S("b"), S("c")})}),
           MakeNestedArray({}),
       }))},
      {"test.array.deepest", A(MakeNestedArray({MakeNestedArray({MakeNestedArray(
                                 {MakeArray(GgufType::kUint64, {U(GgufType::kUint64, 42)})})})}))},
      {"tokenizer.ggml.model", S("llama")},
      {"tokenizer.ggml.tokens", A(MakeArray(GgufType::kString, tokens))},
      {"tokenizer.ggml.scores", A(MakeArray(GgufType::kFloat32, scores))},
  };
}

std::vector<GgufTensorSpec> LlamaTensors() {
  return {
      {"token_embd.weight", {64, 100}, kQ8_0},
      {"blk.0.attn_q.weight", {256, 64}, kQ4_K},
      {"blk.0.ffn_norm.weight", {64}, kF32},
      {"blk.1.attn_q.weight", {256, 64}, kQ4_K},
      {"blk.1.ffn_norm.weight", {64}, kF32},
      {"output.weight", {64, 100}, kF16},
      {"test.bf16", {32}, kBF16},
      {"test.q4_0_3d", {32, 2, 3}, kQ4_0},
      {"test.f32_4d", {2, 3, 4, 5}, kF32},
      {"test.scalar", {}, kF32},
  };
}

}  // namespace

GgufSpec AllTypesGguf(uint32_t version) {
  GgufSpec spec;
  spec.version = version;
  spec.metadata = GeneralKeys();
  for (GgufKeyValue& kv : EveryType()) spec.metadata.push_back(std::move(kv));
  spec.tensors = LlamaTensors();
  return spec;
}

std::vector<std::pair<std::string, GgufSpec>> SplitGguf() {
  std::vector<GgufTensorSpec> all = LlamaTensors();
  std::vector<std::vector<GgufTensorSpec>> parts = {{all.begin(), all.begin() + 3},
                                                    {all.begin() + 3, all.begin() + 6},
                                                    {all.begin() + 6, all.end()}};
  std::vector<std::pair<std::string, GgufSpec>> out;
  for (size_t i = 0; i < parts.size(); ++i) {
    GgufSpec spec;
    if (i == 0) spec.metadata = GeneralKeys();
    spec.metadata.push_back({"split.no", U(GgufType::kUint16, i)});
    spec.metadata.push_back({"split.count", U(GgufType::kUint16, parts.size())});
    spec.metadata.push_back(
        {"split.tensors.count", I(GgufType::kInt32, static_cast<int64_t>(all.size()))});
    spec.tensors = parts[i];
    out.emplace_back("split-0000" + std::to_string(i + 1) + "-of-00003.gguf", std::move(spec));
  }
  return out;
}

uint64_t ParameterCount(const std::vector<GgufSpec>& specs) {
  uint64_t sum = 0;
  for (const GgufSpec& s : specs) {
    for (const GgufTensorSpec& t : s.tensors) {
      uint64_t n = 1;
      for (uint64_t d : t.dims) n *= d;
      sum += n;
    }
  }
  return sum;
}

Result<std::vector<std::filesystem::path>> WriteCrossCheckFiles(const std::filesystem::path& dir) {
  std::vector<std::pair<std::string, GgufSpec>> files = {
      {"all-types-v3.gguf", AllTypesGguf(3)},
      {"all-types-v2.gguf", AllTypesGguf(2)},
  };
  GgufSpec aligned = AllTypesGguf(3);
  aligned.metadata.push_back(KvU32("general.alignment", 64));
  files.emplace_back("aligned-64.gguf", std::move(aligned));
  for (auto& part : SplitGguf()) files.push_back(std::move(part));
  std::vector<std::filesystem::path> paths;
  for (const auto& [name, spec] : files) {
    paths.push_back(dir / name);
    if (Status s = WriteBytes(paths.back(), EncodeGguf(spec)); !s.ok()) return s;
  }
  return paths;
}

}  // namespace modeld::testing
