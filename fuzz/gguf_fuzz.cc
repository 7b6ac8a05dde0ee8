// GGUF headers, as a downloaded model file holds them: formats::ReadGguf over the input
// in memory, then the model's description (formats::DescribeGgufModel).
//
// Invariants: a refused file is Corrupt, never an exception; an accepted one has version 2
// or 3, a power-of-two alignment, unique UTF-8 keys and tensor names, at most 4
// dimensions per tensor whose product is the element count, each tensor's data aligned and
// inside the file; written back with the test writer and read again it is the same file;
// its description counts every tensor's elements and bytes, and survives the registry's
// JSON; its listing JSON is valid UTF-8.
#include <set>

#include "core/json.h"
#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "formats/model_metadata.h"
#include "formats/utf8.h"
#include "fuzz_check.h"
#include "gguf_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using namespace modeld::formats;
  std::string_view bytes = fuzz::AsText(data, size);
  auto file = ReadGguf(MemorySource(bytes, "fuzz.gguf"));
  if (!file.has_value()) {
    FUZZ_CHECK(file.error().code() == Status::Code::kCorrupt);
    return 0;
  }
  const GgufFile& f = *file;
  FUZZ_CHECK(f.version == 2 || f.version == 3);
  FUZZ_CHECK(f.file_size == size);
  FUZZ_CHECK(f.alignment != 0 && (f.alignment & (f.alignment - 1)) == 0);
  FUZZ_CHECK(f.data_offset % f.alignment == 0);
  std::set<std::string> keys, names;
  for (const GgufKeyValue& kv : f.metadata) {
    FUZZ_CHECK(IsValidUtf8(kv.key));
    FUZZ_CHECK(keys.insert(kv.key).second);
  }
  unsigned __int128 elements = 0, bytes_total = 0;
  for (const GgufTensor& t : f.tensors) {
    FUZZ_CHECK(IsValidUtf8(t.name));
    FUZZ_CHECK(names.insert(t.name).second);
    FUZZ_CHECK(t.dims.size() <= kGgmlMaxDims);
    unsigned __int128 product = 1;
    // Accepted, every partial product fits 64 bits, so 128 bits hold it exactly.
    for (uint64_t d : t.dims) product *= d;
    FUZZ_CHECK(product == t.elements);
    auto info = GgmlType(t.ggml_type);
    FUZZ_CHECK(info.has_value());
    FUZZ_CHECK(t.elements % info->block_elements == 0);
    FUZZ_CHECK(t.bytes == t.elements / info->block_elements * info->block_bytes);
    FUZZ_CHECK(t.offset % f.alignment == 0);
    FUZZ_CHECK(static_cast<unsigned __int128>(f.data_offset) + t.offset + t.bytes <= size);
    elements += t.elements;
    bytes_total += t.bytes;
  }

  // Written back and read again: the same file.
  std::string again = testing::EncodeGguf(f);
  FUZZ_CHECK(again.size() == size);
  auto reread = ReadGguf(MemorySource(again, "fuzz.gguf"));
  FUZZ_CHECK(reread.has_value());
  FUZZ_CHECK(*reread == f);

  // The listing's JSON is valid UTF-8 (dump throws otherwise).
  (void)GgufMetadataToJson(f).dump();

  auto m = DescribeGgufModel({{"fuzz.gguf", f}});
  if (!m.has_value()) {
    // Only a split model missing its other parts, or a sum past 2^64, is refused.
    FUZZ_CHECK(m.error().code() == Status::Code::kCorrupt);
    FUZZ_CHECK(f.Find("split.count") != nullptr || elements >> 64 != 0 || bytes_total >> 64 != 0);
    return 0;
  }
  FUZZ_CHECK(m->format == "gguf");
  FUZZ_CHECK(m->parameter_count == elements);
  FUZZ_CHECK(m->tensor_bytes == bytes_total);
  FUZZ_CHECK(m->tensor_count == f.tensors.size());
  FUZZ_CHECK(m->split_count == 1);
  FUZZ_CHECK((m->parameter_count == 0) == m->parameters.empty());
  nlohmann::json j = nlohmann::json::parse(ModelMetadataToJson(*m).dump());
  auto back = ModelMetadataFromJson(j);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(*back == *m);
  return 0;
}
