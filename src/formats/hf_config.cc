#include "formats/hf_config.h"

#include <initializer_list>
#include <optional>

#include "core/json.h"

namespace modeld::formats {

namespace {

using Json = nlohmann::json;

std::optional<uint64_t> PositiveInteger(const Json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() > 0) return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

// The first of |keys| holding a positive integer in |obj|; 0 when none does.
uint64_t FirstIntegerIn(const Json& obj, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = obj.find(key);
    if (it == obj.end()) continue;
    if (std::optional<uint64_t> v = PositiveInteger(*it)) return *v;
  }
  return 0;
}

// The same, then in |obj|'s "text_config" (multimodal models keep the language model's
// shape there).
uint64_t FirstInteger(const Json& obj, std::initializer_list<const char*> keys) {
  if (uint64_t v = FirstIntegerIn(obj, keys)) return v;
  auto text = obj.find("text_config");
  return text != obj.end() && text->is_object() ? FirstIntegerIn(*text, keys) : 0;
}

std::string FirstString(const Json& obj, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = obj.find(key);
    if (it != obj.end() && it->is_string()) return it->get<std::string>();
  }
  return "";
}

}  // namespace

Result<HfConfig> ParseHfConfig(std::string_view text, std::string_view what) {
  auto json = ParseJson(text, what);
  if (!json.has_value()) return Status::Corrupt(json.error().message());
  if (!json->is_object()) return Status::Corrupt(std::string(what) + " is not a JSON object");
  const Json& obj = *json;
  HfConfig c;
  if (auto it = obj.find("architectures"); it != obj.end() && it->is_array()) {
    for (const Json& a : *it) {
      if (a.is_string()) c.architectures.push_back(a.get<std::string>());
    }
  }
  c.model_type = FirstString(obj, {"model_type"});
  c.max_position_embeddings = FirstInteger(
      obj, {"max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx"});
  c.hidden_size = FirstInteger(obj, {"hidden_size", "n_embd", "d_model"});
  c.num_hidden_layers = FirstInteger(obj, {"num_hidden_layers", "n_layer", "num_layers"});
  c.torch_dtype = FirstString(obj, {"torch_dtype", "dtype"});
  return c;
}

}  // namespace modeld::formats
