// Writes safetensors files for tests and fuzz seeds: a JSON header from tensor
// descriptions (offsets consecutive, padded with spaces to 8 bytes as safetensors does,
// data zero), or any header text verbatim for malformed files.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace modeld::testing {

struct SafetensorsTensorSpec {
  std::string name;
  std::string dtype;  // "BF16"
  std::vector<uint64_t> shape;
};

// REQUIRES: every dtype is known to formats::SafetensorsDtypeBits, with whole bytes.
std::string EncodeSafetensors(const std::vector<SafetensorsTensorSpec>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

// The 8-byte length of |header|, |header|, then |data_bytes| zeros.
std::string EncodeSafetensorsRaw(std::string_view header, uint64_t data_bytes);

}  // namespace modeld::testing
