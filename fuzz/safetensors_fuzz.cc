// safetensors headers (formats::ReadSafetensors over the input in memory), and the same
// bytes as the index of a sharded model (formats::ParseSafetensorsIndex).
//
// Invariants: a refused file or index is Corrupt, never an exception; an accepted file's
// header is within the cap and the file; every tensor has a known dtype, a shape whose
// product is its element count, data inside the file whose bytes are exactly its elements'
// bits; tensors are sorted and unique; written back (the same offsets) and read again it
// is the same file. An accepted index lists its shards sorted, unique and non-empty.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "fuzz_check.h"
#include "safetensors_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using namespace modeld::formats;
  std::string_view bytes = fuzz::AsText(data, size);

  auto index = ParseSafetensorsIndex(bytes, "index.json");
  if (!index.has_value()) {
    FUZZ_CHECK(index.error().code() == Status::Code::kCorrupt);
  } else {
    std::vector<std::string> shards = index->Shards();
    FUZZ_CHECK(std::is_sorted(shards.begin(), shards.end()));
    FUZZ_CHECK(std::adjacent_find(shards.begin(), shards.end()) == shards.end());
    for (const std::string& s : shards) FUZZ_CHECK(!s.empty());
  }

  auto file = ReadSafetensors(MemorySource(bytes, "fuzz.safetensors"));
  if (!file.has_value()) {
    FUZZ_CHECK(file.error().code() == Status::Code::kCorrupt);
    return 0;
  }
  const SafetensorsFile& f = *file;
  FUZZ_CHECK(f.header_size <= kMaxSafetensorsHeader);
  FUZZ_CHECK(f.data_offset == 8 + f.header_size && f.data_offset <= size);
  nlohmann::json header = nlohmann::json::object();
  if (!f.metadata.empty()) header["__metadata__"] = f.metadata;
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const SafetensorsTensor& t = f.tensors[i];
    if (i > 0) FUZZ_CHECK(f.tensors[i - 1].name < t.name);
    auto bits = SafetensorsDtypeBits(t.dtype);
    FUZZ_CHECK(bits.has_value());
    unsigned __int128 product = 1;
    bool small = true;
    for (uint64_t d : t.shape) {
      product *= d;
      small &= product <= UINT64_MAX;  // once past 2^64 it could only have been refused
    }
    FUZZ_CHECK(small && product == t.elements);
    FUZZ_CHECK(t.begin <= t.end && t.end <= size - f.data_offset);
    FUZZ_CHECK(static_cast<unsigned __int128>(t.elements) * *bits == (t.end - t.begin) * 8ull);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string again = testing::EncodeSafetensorsRaw(header.dump(), size - f.data_offset);
  auto reread = ReadSafetensors(MemorySource(again, "fuzz.safetensors"));
  FUZZ_CHECK(reread.has_value());
  FUZZ_CHECK(reread->tensors == f.tensors);
  FUZZ_CHECK(reread->metadata == f.metadata);
  return 0;
}
