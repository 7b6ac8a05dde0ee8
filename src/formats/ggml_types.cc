#include "formats/ggml_types.h"

#include <array>

namespace modeld::formats {

namespace {

constexpr uint32_t kQK = 256;  // QK_K: the super-block of the K and IQ quantizations

// Indexed by ggml_type. An empty name is a value ggml removed (Q4_2, Q4_3, the 4x4/4x8/8x8
// repacked types) or never used.
constexpr std::array<GgmlTypeInfo, 40> kGgmlTypes = {{
    {"F32", 1, 4},
    {"F16", 1, 2},
    {"Q4_0", 32, 2 + 16},
    {"Q4_1", 32, 2 + 2 + 16},
    {"", 0, 0},
    {"", 0, 0},
    {"Q5_0", 32, 2 + 4 + 16},
    {"Q5_1", 32, 2 + 2 + 4 + 16},
    {"Q8_0", 32, 2 + 32},
    {"Q8_1", 32, 4 + 4 + 32},
    {"Q2_K", kQK, 2 + 2 + kQK / 16 + kQK / 4},
    {"Q3_K", kQK, 2 + kQK / 4 + kQK / 8 + 12},
    {"Q4_K", kQK, 2 + 2 + kQK / 2 + 12},
    {"Q5_K", kQK, 2 + 2 + kQK / 2 + kQK / 8 + 12},
    {"Q6_K", kQK, 2 + kQK / 2 + kQK / 4 + kQK / 16},
    {"Q8_K", kQK, 4 + kQK + kQK / 8},
    {"IQ2_XXS", kQK, 2 + kQK / 4},
    {"IQ2_XS", kQK, 2 + kQK / 4 + kQK / 32},
    {"IQ3_XXS", kQK, 2 + kQK / 4 + kQK / 8},
    {"IQ1_S", kQK, 2 + kQK / 8 + kQK / 16},
    {"IQ4_NL", 32, 2 + 16},
    {"IQ3_S", kQK, 2 + kQK / 4 + kQK / 8 + kQK / 32 + 4},
    {"IQ2_S", kQK, 2 + kQK / 4 + kQK / 16},
    {"IQ4_XS", kQK, 2 + 2 + kQK / 2 + kQK / 64},
    {"I8", 1, 1},
    {"I16", 1, 2},
    {"I32", 1, 4},
    {"I64", 1, 8},
    {"F64", 1, 8},
    {"IQ1_M", kQK, kQK / 8 + kQK / 16 + kQK / 32},
    {"BF16", 1, 2},
    {"", 0, 0},
    {"", 0, 0},
    {"", 0, 0},
    {"TQ1_0", kQK, 2 + 4 * 13},
    {"TQ2_0", kQK, 2 + 64},
    {"", 0, 0},
    {"", 0, 0},
    {"", 0, 0},
    {"MXFP4", 32, 1 + 16},
}};

// Indexed by llama_ftype; an empty name is a value llama.h does not define.
constexpr std::array<std::string_view, 40> kFileTypes = {
    "F32",    "F16",      "Q4_0",     "Q4_1",     "Q4_1_SOME_F16", "",       "",          "Q8_0",
    "Q5_0",   "Q5_1",     "Q2_K",     "Q3_K_S",   "Q3_K_M",        "Q3_K_L", "Q4_K_S",    "Q4_K_M",
    "Q5_K_S", "Q5_K_M",   "Q6_K",     "IQ2_XXS",  "IQ2_XS",        "Q2_K_S", "IQ3_XS",    "IQ3_XXS",
    "IQ1_S",  "IQ4_NL",   "IQ3_S",    "IQ3_M",    "IQ2_S",         "IQ2_M",  "IQ4_XS",    "IQ1_M",
    "BF16",   "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",         "TQ2_0",  "MXFP4_MOE", "NVFP4",
};

constexpr uint32_t kGuessed = 1024;

}  // namespace

std::optional<GgmlTypeInfo> GgmlType(uint32_t type) {
  if (type >= kGgmlTypes.size() || kGgmlTypes[type].name.empty()) return std::nullopt;
  return kGgmlTypes[type];
}

std::optional<std::string_view> LlamaFileTypeName(uint32_t file_type) {
  file_type &= ~kGuessed;
  if (file_type >= kFileTypes.size() || kFileTypes[file_type].empty()) return std::nullopt;
  return kFileTypes[file_type];
}

}  // namespace modeld::formats
