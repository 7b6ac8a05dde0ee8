#include "safetensors_writer.h"

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"

namespace modeld::testing {

std::string EncodeSafetensors(const std::vector<SafetensorsTensorSpec>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const SafetensorsTensorSpec& t : tensors) {
    uint64_t elements = 1;
    for (uint64_t d : t.shape) elements *= d;
    uint64_t bytes = elements * *formats::SafetensorsDtypeBits(t.dtype) / 8;
    header[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return EncodeSafetensorsRaw(text, offset);
}

std::string EncodeSafetensorsRaw(std::string_view header, uint64_t data_bytes) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  out.append(header);
  out.append(data_bytes, '\0');
  return out;
}

}  // namespace modeld::testing
