#include "service/quantization.h"

#include <gtest/gtest.h>

namespace modeld::service {
namespace {

TEST(QuantizationTest, ReadsTheQuantizationFromAGgufPath) {
  const std::pair<std::string, std::string> kCases[] = {
      {"model-Q4_K_M.gguf", "Q4_K_M"},
      {"model.Q8_0.gguf", "Q8_0"},
      {"Llama-3.2-1B-Instruct-IQ4_XS.gguf", "IQ4_XS"},
      {"qwen2.5-0.5b-instruct-q4_k_m.gguf", "Q4_K_M"},
      {"gguf/tiny-Q4_K_M-00001-of-00002.gguf", "Q4_K_M"},
      {"Q5_K_S/model-00001-of-00003.gguf", "Q5_K_S"},
      {"model-f16.gguf", "F16"},
      {"model-BF16.GGUF", "BF16"},
      {"mmproj-model-f16.gguf", ""},
      {"vision/MMPROJ-Q8_0.gguf", ""},
      {"model.gguf", ""},
      {"model-Q4_K_M.bin", ""},
      {"config.json", ""},
      {".gguf", ""},
  };
  for (const auto& [path, quant] : kCases) EXPECT_EQ(GgufQuantization(path), quant) << path;
}

TEST(QuantizationTest, PicksQ4KMWhenPresent) {
  EXPECT_EQ(PickDefaultQuantization({{"m-Q2_K.gguf", 10},
                                     {"m-Q4_K_M-00001-of-00002.gguf", 500},
                                     {"m-Q4_K_M-00002-of-00002.gguf", 500},
                                     {"m-Q4_0.gguf", 300},
                                     {"config.json", 1}}),
            "Q4_K_M");
}

TEST(QuantizationTest, ElseTheSmallestFourBitSummedOverParts) {
  // Q4_0 is one small file; Q4_K_S is split in two parts whose sum is smaller still.
  EXPECT_EQ(PickDefaultQuantization({{"m-Q2_K.gguf", 10},
                                     {"m-Q4_0.gguf", 300},
                                     {"Q4_K_S/m-00001-of-00002.gguf", 140},
                                     {"Q4_K_S/m-00002-of-00002.gguf", 140},
                                     {"m-IQ4_XS.gguf", 290},
                                     {"m-Q8_0.gguf", 600}}),
            "Q4_K_S");
  EXPECT_EQ(PickDefaultQuantization({{"m-IQ4_NL.gguf", 300}, {"m-Q4_0.gguf", 300}}), "IQ4_NL")
      << "a tie goes to the first in name order";
  EXPECT_EQ(PickDefaultQuantization({{"m-Q4_0.gguf", 300}, {"mmproj-Q4_0.gguf", 1}}), "Q4_0")
      << "a projector is no quantization of the model";
}

TEST(QuantizationTest, ElseTheSmallestOfAll) {
  EXPECT_EQ(
      PickDefaultQuantization({{"m-Q8_0.gguf", 800}, {"m-Q6_K.gguf", 600}, {"m-F16.gguf", 1600}}),
      "Q6_K");
}

TEST(QuantizationTest, NothingWithoutGguf) {
  EXPECT_EQ(PickDefaultQuantization({}), "");
  EXPECT_EQ(PickDefaultQuantization({{"model.safetensors", 100}, {"config.json", 1}}), "");
  EXPECT_EQ(PickDefaultQuantization({{"mmproj-f16.gguf", 100}, {"model.gguf", 1}}), "");
}

}  // namespace
}  // namespace modeld::service
