// The ggml vocabulary a GGUF file speaks: tensor types (ggml_type in ggml.h: name, elements
// per block, bytes per block) and llama.cpp's file types (llama_ftype in llama.h, the value
// of general.file_type) as the quantization names people use (Q4_K_M, Q8_0, F16).
//
// The tables follow ggml-org/llama.cpp (ggml/include/ggml.h, gguf-py's GGML_QUANT_SIZES,
// include/llama.h); a type added there after MXFP4 is unknown here until it is added.
//
// Thread safety: constant tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace modeld::formats {

struct GgmlTypeInfo {
  std::string_view name;  // "Q4_K"
  uint32_t block_elements;
  uint32_t block_bytes;
};

// ggml_type |type|, or nullopt for a type this table does not know (removed or newer).
std::optional<GgmlTypeInfo> GgmlType(uint32_t type);

// The quantization name of llama_ftype |file_type| ("Q4_K_M" for 15), with the GUESSED
// flag (1024) ignored; nullopt for a value llama.h does not define.
std::optional<std::string_view> LlamaFileTypeName(uint32_t file_type);

}  // namespace modeld::formats
