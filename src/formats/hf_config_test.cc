#include "formats/hf_config.h"

#include <gtest/gtest.h>

#include "expect_corrupt.h"

namespace modeld::formats {
namespace {

TEST(HfConfigTest, ReadsTheFieldsOfAQwenConfig) {
  auto c = ParseHfConfig(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
    "max_position_embeddings": 32768, "num_hidden_layers": 24, "torch_dtype": "bfloat16",
    "rope_scaling": null, "vocab_size": 151936})",
                         "config.json");
  ASSERT_TRUE(c.has_value()) << c.error().ToString();
  EXPECT_EQ(c->architectures, std::vector<std::string>{"Qwen2ForCausalLM"});
  EXPECT_EQ(c->model_type, "qwen2");
  EXPECT_EQ(c->max_position_embeddings, 32768u);
  EXPECT_EQ(c->hidden_size, 896u);
  EXPECT_EQ(c->num_hidden_layers, 24u);
  EXPECT_EQ(c->torch_dtype, "bfloat16");
}

TEST(HfConfigTest, FallsBackToOlderAndNestedNames) {
  auto gpt2 = ParseHfConfig(R"({"model_type": "gpt2", "n_positions": 1024, "n_ctx": 2048,
      "n_embd": 768, "n_layer": 12, "dtype": "float32"})",
                            "c");
  ASSERT_TRUE(gpt2.has_value());
  EXPECT_EQ(gpt2->max_position_embeddings, 1024u);  // n_positions before n_ctx
  EXPECT_EQ(gpt2->hidden_size, 768u);
  EXPECT_EQ(gpt2->num_hidden_layers, 12u);
  EXPECT_EQ(gpt2->torch_dtype, "float32");
  auto mpt = ParseHfConfig(R"({"max_seq_len": 8192, "d_model": 4096})", "c");
  EXPECT_EQ(mpt->max_position_embeddings, 8192u);
  EXPECT_EQ(mpt->hidden_size, 4096u);
  auto llava = ParseHfConfig(R"({"architectures": ["LlavaForConditionalGeneration"],
      "model_type": "llava", "text_config": {"max_position_embeddings": 4096,
      "hidden_size": 4096, "num_hidden_layers": 32}})",
                             "c");
  EXPECT_EQ(llava->max_position_embeddings, 4096u);
  EXPECT_EQ(llava->num_hidden_layers, 32u);
}

TEST(HfConfigTest, OddFieldsAreAbsentAndBadDocumentsCorrupt) {
  auto odd = ParseHfConfig(R"({"architectures": "x", "model_type": 3,
      "max_position_embeddings": -1, "n_positions": 1e300, "hidden_size": "896",
      "text_config": [], "torch_dtype": null})",
                           "c");
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ(odd->architectures.size(), 0u);
  EXPECT_EQ(odd->model_type, "");
  EXPECT_EQ(odd->max_position_embeddings, 0u);
  EXPECT_EQ(odd->hidden_size, 0u);
  for (std::string bad :
       std::vector<std::string>{"", "[]", "{\"a\":", "\"x\"", std::string(200, '[')}) {
    testing::ExpectCorrupt(ParseHfConfig(bad, "/m/config.json"), {"/m/config.json"}, bad);
  }
}

}  // namespace
}  // namespace modeld::formats
