// What is inside a model: its format, architecture, size and shape, read from the model's
// installed files (GGUF, safetensors with its index, config.json) into one ModelMetadata,
// which the registry stores as JSON and every listing shows.
//
// Thread safety: values and stateless functions. InspectModel reads files (the headers
// only: a few MB for a large GGUF vocabulary), so it runs where disk reads may block (a job
// thread or the store pool), never on an I/O thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"

namespace modeld::formats {

// One installed file of a model.
struct ModelFile {
  std::filesystem::path path;  // absolute, readable
  std::string relative;  // its path inside the model: "config.json", "q4/m-00001-of-00002.gguf"
};

// Bumped when InspectModel learns to read more, so stored metadata can be refreshed.
inline constexpr int kModelMetadataVersion = 1;

struct ModelMetadata {
  int version = kModelMetadataVersion;
  std::string format;        // "gguf", "safetensors", or "" (neither was found)
  std::string architecture;  // GGUF general.architecture, else config.json's model_type
  std::string name;          // GGUF general.name ("" for safetensors)
  // GGUF: general.file_type as llama.cpp names it ("Q4_K_M"), else the ggml type holding
  // the most bytes ("Q4_K"). safetensors: the dtype holding the most bytes ("BF16").
  std::string quantization;
  // The sum of every tensor's element count over every part or shard. (For weights
  // packed into integers, as GPTQ does, these are the stored elements.)
  uint64_t parameter_count = 0;
  std::string parameters;         // ParameterString(parameter_count): "494M", "7B"; "" when 0
  uint64_t tensor_bytes = 0;      // the tensors' data, summed
  double bits_per_weight = 0;     // tensor_bytes * 8 / parameter_count (0 without parameters)
  uint64_t context_length = 0;    // <arch>.context_length, else max_position_embeddings
  uint64_t embedding_length = 0;  // <arch>.embedding_length, else hidden_size
  uint64_t block_count = 0;       // <arch>.block_count, else num_hidden_layers
  uint32_t split_count = 0;       // GGUF parts or safetensors shards read (1 for one file)
  uint64_t tensor_count = 0;
  std::vector<std::string> dtypes;  // tensor types present, most bytes first
  std::vector<std::string> files;   // the relative paths the tensors were read from
  bool has_config = false;          // config.json was present (then |config| holds it)
  HfConfig config;
  bool has_tokenizer_config = false;                        // tokenizer_config.json is present
  std::map<std::string, std::string> safetensors_metadata;  // __metadata__, all shards merged
  // Every GGUF key/value (of the first part) through GgufMetadataToJson with the default
  // limits: Ollama's model_info. An empty object for other formats.
  nlohmann::json gguf_metadata = nlohmann::json::object();

  bool operator==(const ModelMetadata&) const = default;
};

// Reads |files| (one model's installed files) and derives its metadata:
// - GGUF: every *.gguf is read; the files of a split model (NAME-00001-of-00003.gguf ...)
//   form one model, whose parts must all be present and agree (split.count, split.no,
//   split.tensors.count). A vision projector (general.architecture "clip", or "mmproj" in
//   its name) is passed over when a language model is beside it; of several models the
//   largest is described.
// - safetensors (when no GGUF is present): the shards *.safetensors.index.json names
//   (model.safetensors.index.json first), each of which must be present and hold the
//   tensors the index maps to it; without an index, every *.safetensors file.
// - config.json and tokenizer_config.json at the model's top.
// Corrupt naming the file for a malformed file or a missing part; the errors of
// FileSource::Open for a file that cannot be read. A model with none of these files
// gives metadata with an empty format.
Result<ModelMetadata> InspectModel(const std::vector<ModelFile>& files);

// The GGUF half of InspectModel on files already read, each with its relative path in the
// model (which also names it in errors): for tests and fuzzing without a disk.
Result<ModelMetadata> DescribeGgufModel(std::vector<std::pair<std::string, GgufFile>> files);

// The registry's form, and back. ModelMetadataFromJson is Corrupt when a field has the
// wrong type; fields that are absent keep their defaults (metadata written by an older
// modeld). ModelMetadataFromJson(ModelMetadataToJson(m)) == m.
nlohmann::json ModelMetadataToJson(const ModelMetadata& m);
Result<ModelMetadata> ModelMetadataFromJson(const nlohmann::json& j);

// A parameter count the way model names write it: "135M", "494M", "1.1B", "7B", "70B":
// thousands (K), millions (M), billions (B) or trillions (T), with one decimal below 10
// of the unit ("1.1B", but "7B" rather than "7.0B") and none from 10 up; below 1000 the
// number itself. "" for 0.
std::string ParameterString(uint64_t count);

}  // namespace modeld::formats
