// Hugging Face config.json files (formats::ParseHfConfig).
//
// Invariants: a refused config is Corrupt, never an exception, and is exactly what core's
// JSON parser refuses or a non-object; an accepted one reads the same twice; a top-level
// positive integer max_position_embeddings, model_type string and the string entries of
// architectures are taken as they are; a zero width or depth means no key gave one.
#include "core/json.h"
#include "formats/hf_config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view text = fuzz::AsText(data, size);
  auto c = formats::ParseHfConfig(text, "config.json");
  nlohmann::json j = ParseJsonOrDiscarded(text);
  if (!c.has_value()) {
    FUZZ_CHECK(c.error().code() == Status::Code::kCorrupt);
    FUZZ_CHECK(j.is_discarded() || !j.is_object());
    return 0;
  }
  FUZZ_CHECK(j.is_object());
  FUZZ_CHECK(*formats::ParseHfConfig(text, "config.json") == *c);
  if (auto it = j.find("max_position_embeddings");
      it != j.end() && it->is_number_unsigned() && it->get<uint64_t>() > 0) {
    FUZZ_CHECK(c->max_position_embeddings == it->get<uint64_t>());
  }
  if (auto it = j.find("model_type"); it != j.end() && it->is_string()) {
    FUZZ_CHECK(c->model_type == it->get<std::string>());
  } else {
    FUZZ_CHECK(c->model_type.empty());
  }
  size_t strings = 0;
  if (auto it = j.find("architectures"); it != j.end() && it->is_array()) {
    for (const auto& a : *it) strings += a.is_string();
  }
  FUZZ_CHECK(c->architectures.size() == strings);
  return 0;
}
