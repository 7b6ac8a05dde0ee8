// The safetensors reader: an 8-byte little-endian header length, a JSON header
// {"name": {"dtype", "shape", "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}},
// then the tensor data, offsets counted from the end of the header. And the index of a
// sharded model (model.safetensors.index.json: "weight_map" from tensor to shard file).
//
// The header comes from the internet: its length is capped (kMaxSafetensorsHeader, and
// never more than the file holds) before anything is allocated, it is parsed by core's
// depth-bounded JSON, and every tensor is checked: a known dtype, a shape of non-negative
// integers whose product does not overflow, offsets inside the data section, and
// elements * dtype bits == 8 * (end - begin). Anything else is Corrupt naming the file.
//
// Thread safety: values and stateless functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "formats/byte_source.h"

namespace modeld::formats {

// Larger than any real header (a few MB for the biggest shards), below the 100 MB that
// safetensors itself refuses.
inline constexpr uint64_t kMaxSafetensorsHeader = 32ull << 20;
// The index of a sharded model is read whole; it lists every tensor once.
inline constexpr uint64_t kMaxSafetensorsIndex = 32ull << 20;

// The bits of one element of safetensors dtype |dtype| ("BF16": 16, "F4": 4), or nullopt
// for a dtype safetensors does not define.
std::optional<uint32_t> SafetensorsDtypeBits(std::string_view dtype);

struct SafetensorsTensor {
  std::string name;
  std::string dtype;
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // data_offsets, from the start of the data section
  uint64_t end = 0;
  uint64_t elements = 0;  // the product of shape (1 for a scalar)
  bool operator==(const SafetensorsTensor&) const = default;
};

struct SafetensorsFile {
  std::vector<SafetensorsTensor> tensors;       // sorted by name
  std::map<std::string, std::string> metadata;  // "__metadata__"
  uint64_t header_size = 0;                     // the JSON's bytes
  uint64_t data_offset = 0;                     // 8 + header_size
  uint64_t file_size = 0;
  bool operator==(const SafetensorsFile&) const = default;
};

// Corrupt naming |source| for a malformed file; IoError from a file source.
Result<SafetensorsFile> ReadSafetensors(const ByteSource& source);
Result<SafetensorsFile> ReadSafetensorsFile(const std::filesystem::path& path);

struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file (relative)
  std::optional<uint64_t> total_size;             // "metadata": {"total_size"} when given
  // The distinct shard files of weight_map, sorted.
  std::vector<std::string> Shards() const;
};

// Parses the text of an index file; Corrupt naming |what| when it is not JSON, has no
// "weight_map" object, or maps a tensor to anything but a non-empty file name.
Result<SafetensorsIndex> ParseSafetensorsIndex(std::string_view text, std::string_view what);

}  // namespace modeld::formats
