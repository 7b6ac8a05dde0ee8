#include "formats/model_metadata.h"

#include <gtest/gtest.h>

#include "fixtures.h"
#include "formats/gguf.h"
#include "gguf_writer.h"
#include "safetensors_writer.h"
#include "temp_dir.h"

namespace modeld::formats {
namespace {

using testing::EncodeGguf;

class InspectModelTest : public ::testing::Test {
 protected:
  // Writes |bytes| as |relative| in the model and lists it.
  void Add(const std::string& relative, const std::string& bytes) {
    ASSERT_TRUE(testing::WriteBytes(dir_.path() / relative, bytes).ok());
    files_.push_back({dir_.path() / relative, relative});
  }
  Result<ModelMetadata> Inspect() { return InspectModel(files_); }

  testing::ScopedTempDir dir_;
  std::vector<ModelFile> files_;
};

TEST_F(InspectModelTest, DescribesAGgufModel) {
  testing::GgufSpec spec = testing::AllTypesGguf(3);
  Add("model-Q4_K_M.gguf", EncodeGguf(spec));
  Add("README.md", "# hi");
  auto m = Inspect();
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->format, "gguf");
  EXPECT_EQ(m->architecture, "llama");
  EXPECT_EQ(m->name, "modeld test model");
  EXPECT_EQ(m->quantization, "Q4_K_M");  // general.file_type 15
  uint64_t params = testing::ParameterCount({spec});
  EXPECT_EQ(m->parameter_count, params);
  EXPECT_EQ(params, 6400u + 16384 + 64 + 16384 + 64 + 6400 + 32 + 192 + 120 + 1);
  EXPECT_EQ(m->parameters, "46K");
  uint64_t bytes = 6800 + 64 * 144 + 256 + 64 * 144 + 256 + 12800 + 64 + 6 * 18 + 480 + 4;
  EXPECT_EQ(m->tensor_bytes, bytes);
  EXPECT_DOUBLE_EQ(m->bits_per_weight, bytes * 8.0 / params);
  EXPECT_EQ(m->context_length, 4096u);
  EXPECT_EQ(m->embedding_length, 64u);
  EXPECT_EQ(m->block_count, 2u);
  EXPECT_EQ(m->split_count, 1u);
  EXPECT_EQ(m->tensor_count, 10u);
  EXPECT_EQ(m->dtypes, (std::vector<std::string>{"Q4_K", "F16", "Q8_0", "F32", "Q4_0", "BF16"}));
  EXPECT_EQ(m->files, std::vector<std::string>{"model-Q4_K_M.gguf"});
  EXPECT_FALSE(m->has_config);
  EXPECT_EQ(m->gguf_metadata["general.file_type"], 15);
  EXPECT_EQ(m->gguf_metadata["tokenizer.ggml.tokens"]["length"], 100);
}

TEST_F(InspectModelTest, InfersTheQuantizationWithoutAFileType) {
  testing::GgufSpec spec = testing::AllTypesGguf(2);
  std::erase_if(spec.metadata, [](auto& kv) { return kv.key == "general.file_type"; });
  Add("m.gguf", EncodeGguf(spec));
  auto m = Inspect();
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->quantization, "Q4_K");  // the most bytes
  // An unknown file type is inferred the same way.
  spec.metadata.push_back(testing::KvU32("general.file_type", 999));
  Add("m.gguf", EncodeGguf(spec));
  files_.pop_back();
  EXPECT_EQ(Inspect()->quantization, "Q4_K");
}

TEST_F(InspectModelTest, ASplitGgufIsOneModel) {
  std::vector<testing::GgufSpec> specs;
  for (auto& [name, spec] : testing::SplitGguf()) {
    Add("q4/" + name, EncodeGguf(spec));
    specs.push_back(spec);
  }
  auto m = Inspect();
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->split_count, 3u);
  EXPECT_EQ(m->parameter_count, testing::ParameterCount(specs));
  EXPECT_EQ(m->parameter_count, testing::ParameterCount({testing::AllTypesGguf(3)}));
  EXPECT_EQ(m->tensor_count, 10u);
  EXPECT_EQ(m->architecture, "llama");
  EXPECT_EQ(m->quantization, "Q4_K_M");
  EXPECT_EQ(m->files, (std::vector<std::string>{"q4/split-00001-of-00003.gguf",
                                                "q4/split-00002-of-00003.gguf",
                                                "q4/split-00003-of-00003.gguf"}));
  EXPECT_EQ(m->gguf_metadata["split.count"], 3);

  // A part missing.
  std::vector<ModelFile> two = {files_[0], files_[2]};
  auto missing = InspectModel(two);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), Status::Code::kCorrupt);
  EXPECT_NE(missing.error().message().find("a split model of 3 parts, 2 present"),
            std::string::npos)
      << missing.error().message();
  auto first_only = InspectModel({files_[0]});
  ASSERT_FALSE(first_only.has_value());
}

TEST_F(InspectModelTest, SplitPartsMustAgree) {
  auto parts = testing::SplitGguf();
  parts[0].second.metadata.back() = {"split.tensors.count",
                                     GgufValue::Signed(GgufType::kInt32, 11)};
  for (auto& [name, spec] : parts) Add(name, EncodeGguf(spec));
  auto m = Inspect();
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message().find("split.tensors.count says 11 tensors, the parts hold 10"),
            std::string::npos)
      << m.error().message();
}

TEST_F(InspectModelTest, PassesOverAVisionProjector) {
  testing::GgufSpec projector;
  projector.metadata = {testing::KvString("general.architecture", "clip")};
  projector.tensors = {{"v.big", {4096, 4096}, 0}};  // larger than the model
  Add("mmproj-f16.gguf", EncodeGguf(projector));
  Add("model.gguf", EncodeGguf(testing::AllTypesGguf(3)));
  auto m = Inspect();
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->architecture, "llama");
  EXPECT_EQ(m->files, std::vector<std::string>{"model.gguf"});
}

TEST_F(InspectModelTest, ACorruptGgufNamesTheFile) {
  std::string bytes = EncodeGguf(testing::AllTypesGguf(3));
  Add("m.gguf", bytes.substr(0, bytes.size() / 2));
  auto m = Inspect();
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code(), Status::Code::kCorrupt);
  EXPECT_NE(m.error().message().find((dir_.path() / "m.gguf").string()), std::string::npos);
}

TEST_F(InspectModelTest, DescribesAShardedSafetensorsModel) {
  Add("config.json", R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
      "max_position_embeddings": 32768, "hidden_size": 64, "num_hidden_layers": 2,
      "torch_dtype": "bfloat16"})");
  Add("tokenizer_config.json", "{}");
  Add("model-00001-of-00002.safetensors",
      testing::EncodeSafetensors({{"embed", "BF16", {100, 64}}, {"norm", "F32", {64}}},
                                 {{"format", "pt"}}));
  Add("model-00002-of-00002.safetensors",
      testing::EncodeSafetensors({{"lm_head", "BF16", {100, 64}}}));
  Add("consolidated.safetensors", testing::EncodeSafetensors({{"x", "F32", {1000}}}));
  Add("model.safetensors.index.json", R"({"metadata": {"total_size": 25856}, "weight_map": {
      "embed": "model-00001-of-00002.safetensors", "norm": "model-00001-of-00002.safetensors",
      "lm_head": "model-00002-of-00002.safetensors"}})");
  auto m = Inspect();
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->format, "safetensors");
  EXPECT_EQ(m->architecture, "qwen2");
  EXPECT_EQ(m->parameter_count, 6400u + 64 + 6400);  // not consolidated.safetensors
  EXPECT_EQ(m->parameters, "13K");
  EXPECT_EQ(m->tensor_bytes, 12800u + 256 + 12800);
  EXPECT_EQ(m->quantization, "BF16");
  EXPECT_EQ(m->dtypes, (std::vector<std::string>{"BF16", "F32"}));
  EXPECT_EQ(m->split_count, 2u);
  EXPECT_EQ(m->tensor_count, 3u);
  EXPECT_EQ(m->context_length, 32768u);
  EXPECT_EQ(m->embedding_length, 64u);
  EXPECT_EQ(m->block_count, 2u);
  EXPECT_TRUE(m->has_config);
  EXPECT_EQ(m->config.architectures, std::vector<std::string>{"Qwen2ForCausalLM"});
  EXPECT_EQ(m->config.torch_dtype, "bfloat16");
  EXPECT_TRUE(m->has_tokenizer_config);
  EXPECT_EQ(m->safetensors_metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
}

TEST_F(InspectModelTest, AnIndexMustMatchItsShards) {
  Add("model-00001-of-00002.safetensors", testing::EncodeSafetensors({{"a", "F32", {4}}}));
  Add("model.safetensors.index.json", R"({"weight_map": {"a": "model-00001-of-00002.safetensors",
      "b": "model-00002-of-00002.safetensors"}})");
  auto m = Inspect();
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message().find("names shard 'model-00002-of-00002.safetensors', which the "
                                     "model does not have"),
            std::string::npos)
      << m.error().message();
  files_.pop_back();
  Add("model.safetensors.index.json",
      R"({"weight_map": {"a": "model-00001-of-00002.safetensors", "z": "model-00001-of-00002.safetensors"}})");
  m = Inspect();
  ASSERT_FALSE(m.has_value());
  EXPECT_NE(m.error().message().find("maps tensor 'z'"), std::string::npos) << m.error().message();
}

TEST_F(InspectModelTest, UnshardedSafetensorsAndNothingAtAll) {
  EXPECT_EQ(Inspect()->format, "");
  Add("weights.bin", "xx");
  EXPECT_EQ(Inspect()->format, "");
  Add("model.safetensors", testing::EncodeSafetensors({{"w", "F16", {1000, 1000}}}));
  auto m = Inspect();
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  EXPECT_EQ(m->parameter_count, 1'000'000u);
  EXPECT_EQ(m->parameters, "1M");
  EXPECT_DOUBLE_EQ(m->bits_per_weight, 16);
  EXPECT_EQ(m->split_count, 1u);
  Add("config.json", "{not json");
  m = Inspect();
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code(), Status::Code::kCorrupt);
  EXPECT_NE(m.error().message().find("config.json"), std::string::npos);
}

TEST(ModelMetadataTest, JsonRoundTrip) {
  testing::ScopedTempDir dir;
  std::vector<ModelFile> files;
  for (auto& [name, spec] : testing::SplitGguf()) {
    ASSERT_TRUE(testing::WriteBytes(dir.path() / name, EncodeGguf(spec)).ok());
    files.push_back({dir.path() / name, name});
  }
  ASSERT_TRUE(testing::WriteBytes(dir.path() / "config.json",
                                  R"({"model_type": "llama", "architectures": ["A", "B"]})")
                  .ok());
  files.push_back({dir.path() / "config.json", "config.json"});
  auto m = InspectModel(files);
  ASSERT_TRUE(m.has_value()) << m.error().ToString();
  m->safetensors_metadata["k"] = "v";
  nlohmann::json j = ModelMetadataToJson(*m);
  auto back = ModelMetadataFromJson(nlohmann::json::parse(j.dump()));
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(*back, *m);
  EXPECT_EQ(j["parameters"], m->parameters);
  EXPECT_EQ(j["config"]["architectures"], nlohmann::json::parse(R"(["A","B"])"));

  ModelMetadata empty;
  EXPECT_EQ(*ModelMetadataFromJson(ModelMetadataToJson(empty)), empty);
  EXPECT_EQ(*ModelMetadataFromJson(nlohmann::json::object()), empty);  // an older record
  for (const char* bad :
       {R"([])", R"({"parameter_count": -1})", R"({"format": 1})", R"({"dtypes": [1]})",
        R"({"split_count": 4294967296})", R"({"config": {"max_position_embeddings": "x"}})",
        R"({"config": 1})", R"({"gguf_metadata": []})", R"({"has_config": 1})"}) {
    auto r = ModelMetadataFromJson(nlohmann::json::parse(bad));
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), Status::Code::kCorrupt);
  }
}

TEST(ModelMetadataTest, ParameterStrings) {
  struct Case {
    uint64_t n;
    const char* s;
  } cases[] = {
      {0, ""},
      {1, "1"},
      {999, "999"},
      {1000, "1K"},
      {1499, "1.5K"},
      {999'499, "999K"},
      {999'500, "1M"},
      {134'515'008, "135M"},  // SmolLM-135M
      {494'032'768, "494M"},  // Qwen2.5-0.5B
      {999'999'999, "1B"},
      {1'100'048'384, "1.1B"},  // TinyLlama-1.1B
      {6'738'415'616, "6.7B"},  // Llama-2-7B
      {7'000'000'000, "7B"},
      {7'241'732'096, "7.2B"},  // Mistral-7B
      {9'940'000'000, "9.9B"},
      {9'960'000'000, "10B"},   // not "10.0B"
      {70'553'706'496, "71B"},  // Llama-3-70B
      {70'000'000'000, "70B"},
      {405'000'000'000, "405B"},
      {999'600'000'000, "1T"},
      {1'500'000'000'000, "1.5T"},
      {18'446'744'073'709'551'615u, "18446744T"},
  };
  for (const Case& c : cases) EXPECT_EQ(ParameterString(c.n), c.s) << c.n;
}

}  // namespace
}  // namespace modeld::formats
