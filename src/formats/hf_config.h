// A Hugging Face model's config.json: what the model is (architectures, model_type), how
// long a context it takes, its width and depth, and the dtype its weights were saved in.
//
// Only the fields modeld shows are read, each with the fallbacks older or multimodal
// configs use; a field of an unexpected type is treated as absent (configs are free-form
// and a model with an odd one is still a model), but text that is not a JSON object is
// Corrupt naming the file.
//
// Thread safety: values and stateless functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace modeld::formats {

// A config.json larger than this is not a model config.
inline constexpr uint64_t kMaxHfConfigBytes = 4ull << 20;

struct HfConfig {
  std::vector<std::string> architectures;  // "Qwen2ForCausalLM"
  std::string model_type;                  // "qwen2"
  // max_position_embeddings, else n_positions (GPT-2), max_seq_len (MPT), seq_length
  // (ChatGLM, Qwen 1), n_ctx; each also looked up in "text_config" (LLaVA, Gemma 3) when
  // absent at the top. 0 when none is given.
  uint64_t max_position_embeddings = 0;
  uint64_t hidden_size = 0;        // hidden_size, n_embd, d_model (and in text_config)
  uint64_t num_hidden_layers = 0;  // num_hidden_layers, n_layer, num_layers (and in text_config)
  std::string torch_dtype;         // torch_dtype, or dtype (transformers >= 4.56)
  bool operator==(const HfConfig&) const = default;
};

// Parses the text of a config.json. Corrupt naming |what| for malformed JSON or a
// document that is not an object.
Result<HfConfig> ParseHfConfig(std::string_view text, std::string_view what);

}  // namespace modeld::formats
