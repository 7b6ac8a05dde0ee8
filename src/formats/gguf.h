// The GGUF reader (versions 2 and 3, as llama.cpp writes them): every metadata key/value
// with its type, arrays (nested too) included, and the tensor table, read through a
// bounded ByteReader (formats/byte_source.h) from a file or from memory.
//
// The file comes from the internet, so nothing it claims is trusted: counts and lengths
// are checked against the bytes left before anything is allocated (memory stays within a
// small multiple of the file's size), array nesting is bounded, dimensions may not
// overflow, types must be known, keys and tensor names must be UTF-8 and unique, and every
// tensor's data must lie, aligned, inside the file. Any of those is a Corrupt status whose
// message names the file and what is wrong, never an exception or a crash.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value count; the
// key/values (u64-length key, u32 type, value); the tensor infos (name, u32 n_dims, u64
// dims, u32 ggml type, u64 offset into the data section); padding to general.alignment
// (default 32); the tensor data. See docs/formats.md.
//
// Thread safety: values and stateless functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/status.h"
#include "formats/byte_source.h"

namespace modeld::formats {

// GGUF's value types, numbered as in the file.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "UINT8" ... "FLOAT64" (the names of gguf-py and @huggingface/gguf); "" for others.
std::string_view GgufTypeName(GgufType type);
// The bytes of one value of a fixed-size type (1, 2, 4 or 8); 0 for STRING and ARRAY.
size_t GgufTypeSize(GgufType type);

class GgufValue;

// An array value, kept compact: a 150,000-token vocabulary is one vector of strings, and
// a numeric array is its bytes as they were in the file.
struct GgufArray {
  GgufType element_type = GgufType::kUint8;
  uint64_t size = 0;
  std::string raw;                   // fixed-size elements: size * GgufTypeSize bytes, LE
  std::vector<std::string> strings;  // STRING elements
  std::vector<GgufArray> arrays;     // ARRAY elements

  // Element |i| as a value. REQUIRES: i < size.
  GgufValue Element(uint64_t i) const;
  bool operator==(const GgufArray&) const = default;
};

// One metadata value. Integers are held widened (uint64_t for UINT*, int64_t for INT*),
// the type remembers the width; floats keep their exact bits.
class GgufValue {
 public:
  GgufValue() = default;  // UINT8 0
  // REQUIRES: |type| is UINT8, UINT16, UINT32 or UINT64 and |v| fits it.
  static GgufValue Unsigned(GgufType type, uint64_t v) { return Of<uint64_t>(type, v); }
  // REQUIRES: |type| is INT8, INT16, INT32 or INT64 and |v| fits it.
  static GgufValue Signed(GgufType type, int64_t v) { return Of<int64_t>(type, v); }
  static GgufValue Float32(float v) { return Of<float>(GgufType::kFloat32, v); }
  static GgufValue Float64(double v) { return Of<double>(GgufType::kFloat64, v); }
  static GgufValue Bool(bool v) { return Of<bool>(GgufType::kBool, v); }
  // The bytes as read: not necessarily UTF-8 (ToValidUtf8 before putting one in JSON).
  static GgufValue String(std::string v) {
    return Of<std::string>(GgufType::kString, std::move(v));
  }
  static GgufValue Array(GgufArray v) { return Of<GgufArray>(GgufType::kArray, std::move(v)); }

  GgufType type() const { return type_; }
  // An integer of any width that is >= 0 (and fits); nullopt for anything else.
  std::optional<uint64_t> AsUint() const;
  // An integer of any width that fits int64_t.
  std::optional<int64_t> AsInt() const;
  std::optional<double> AsDouble() const;  // FLOAT32 or FLOAT64
  std::optional<float> AsFloat32() const;  // FLOAT32 only, its exact bits
  std::optional<bool> AsBool() const;
  const std::string* AsString() const;
  const GgufArray* AsArray() const;

  // Equal types and values; floats compare by their bits (NaN equals the same NaN).
  friend bool operator==(const GgufValue& a, const GgufValue& b);

 private:
  using Storage = std::variant<uint64_t, int64_t, float, double, bool, std::string, GgufArray>;
  template <typename T, typename V>
  static GgufValue Of(GgufType type, V&& v) {
    GgufValue out;
    out.type_ = type;
    out.v_.emplace<T>(std::forward<V>(v));
    return out;
  }
  GgufType type_ = GgufType::kUint8;
  Storage v_ = uint64_t{0};
};

struct GgufKeyValue {
  std::string key;  // valid UTF-8, unique in the file
  GgufValue value;
  bool operator==(const GgufKeyValue&) const = default;
};

inline constexpr uint32_t kGgmlMaxDims = 4;     // GGML_MAX_DIMS
inline constexpr int kMaxGgufArrayNesting = 4;  // arrays of arrays, as @huggingface/gguf
inline constexpr uint64_t kGgufDefaultAlignment = 32;

struct GgufTensor {
  std::string name;            // valid UTF-8, unique in the file
  std::vector<uint64_t> dims;  // ne[0] first (the fastest-varying), at most kGgmlMaxDims
  uint32_t ggml_type = 0;      // known to GgmlType()
  uint64_t offset = 0;         // from the start of the data section, aligned
  uint64_t elements = 0;       // the product of dims
  uint64_t bytes = 0;          // elements / block elements * block bytes
  bool operator==(const GgufTensor&) const = default;
};

struct GgufFile {
  uint32_t version = 3;
  std::vector<GgufKeyValue> metadata;  // in file order
  std::vector<GgufTensor> tensors;     // in file order
  uint64_t alignment = kGgufDefaultAlignment;
  uint64_t data_offset = 0;  // the tensor data section, from the start of the file
  uint64_t file_size = 0;

  // The value of |key|, or nullptr.
  const GgufValue* Find(std::string_view key) const;
  bool operator==(const GgufFile&) const = default;
};

// Reads the GGUF header (metadata and tensor table) from |source| and checks it as the
// file comment says. Corrupt naming |source|'s name for anything malformed; IoError from a
// file source.
Result<GgufFile> ReadGguf(const ByteSource& source);
// The same from the file at |path| (open errors as FileSource::Open).
Result<GgufFile> ReadGgufFile(const std::filesystem::path& path);

// A value as JSON for listings (Ollama's model_info): integers and bools as such, finite
// floats as numbers (NaN and infinities as null), strings as valid UTF-8 (ToValidUtf8).
// An array longer than |max_array| elements, or a string longer than |max_string| bytes,
// becomes {"type": "<element type or STRING>", "length": N}, so a vocabulary or an
// embedded tokenizer.json does not end up in the registry.
struct GgufJsonLimits {
  uint64_t max_array = 64;
  uint64_t max_string = 64 * 1024;
};
nlohmann::json GgufValueToJson(const GgufValue& value, const GgufJsonLimits& limits = {});
// Every key/value of |file| as one object, each value through GgufValueToJson.
nlohmann::json GgufMetadataToJson(const GgufFile& file, const GgufJsonLimits& limits = {});

}  // namespace modeld::formats
