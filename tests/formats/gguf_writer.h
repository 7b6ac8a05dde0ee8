// Writes GGUF files for tests, fuzzing and the cross-check with @huggingface/gguf: from a
// description (key/values of every type, tensors laid out as llama.cpp lays them out), or
// from a parsed GgufFile (re-encoding what formats::ReadGguf read).
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/gguf.h"

namespace modeld::testing {

struct GgufTensorSpec {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first
  uint32_t ggml_type = 0;      // F32
};

struct GgufSpec {
  uint32_t version = 3;
  std::vector<formats::GgufKeyValue> metadata;  // general.alignment among them sets it
  std::vector<GgufTensorSpec> tensors;
};

// The file's bytes: header, padding to the alignment, then each tensor's data (zeros,
// its size from ggml's block table) at consecutive aligned offsets.
// REQUIRES: every tensor's type is known to formats::GgmlType.
std::string EncodeGguf(const GgufSpec& spec);

// |file| written back as read: its version, key/values and tensor infos (their offsets
// kept), zeros after the header up to |file.file_size|. Parsing the result gives |file|.
std::string EncodeGguf(const formats::GgufFile& file);

// An array of |elements|, each of |element_type| (any type but ARRAY: use arrays for
// nesting). REQUIRES: the elements' types are |element_type|.
formats::GgufArray MakeArray(formats::GgufType element_type,
                             const std::vector<formats::GgufValue>& elements);
formats::GgufArray MakeNestedArray(const std::vector<formats::GgufArray>& arrays);

// Pieces for hand-made (malformed) files. EncodeGgufHeader writes "GGUF", |version|, the
// counts as given (they may lie) and |kvs|; AppendTensorInfo one tensor info.
void AppendU32(std::string* out, uint32_t v);
void AppendU64(std::string* out, uint64_t v);
void AppendGgufString(std::string* out, std::string_view s);
std::string EncodeGgufHeader(uint32_t version, uint64_t n_tensors, uint64_t n_kv,
                             const std::vector<formats::GgufKeyValue>& kvs);
void AppendTensorInfo(std::string* out, std::string_view name, const std::vector<uint64_t>& dims,
                      uint32_t ggml_type, uint64_t offset);

// Shorthands for key/values.
formats::GgufKeyValue KvString(std::string key, std::string value);
formats::GgufKeyValue KvU32(std::string key, uint32_t value);

// Writes |bytes| to |path| (creating its directory). IoError on failure.
Status WriteBytes(const std::filesystem::path& path, const std::string& bytes);

}  // namespace modeld::testing
