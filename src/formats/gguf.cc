#include "formats/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "formats/ggml_types.h"
#include "formats/utf8.h"

namespace modeld::formats {

namespace {

constexpr uint64_t kMaxAlignment = uint64_t{1} << 30;
// The fewest bytes a key/value (an empty key, a type, a 1-byte value) and a tensor info
// (an empty name, n_dims, no dims, type, offset) can take: a count is checked against the
// bytes left divided by these before anything is reserved for it.
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

bool IsKnownType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

// The fewest bytes one element of |type| takes in the file.
uint64_t MinElementBytes(GgufType type) {
  switch (type) {
    case GgufType::kString:
      return 8;
    case GgufType::kArray:
      return 4 + 8;
    default:
      return GgufTypeSize(type);
  }
}

std::string Quoted(std::string_view s) {
  std::string v = ToValidUtf8(s.substr(0, 120));
  return "'" + v + (s.size() > 120 ? "...'" : "'");
}

// Decodes one fixed-size value of |type| from |p|.
GgufValue DecodeFixed(GgufType type, const char* p) {
  switch (type) {
    case GgufType::kUint8:
      return GgufValue::Unsigned(type, static_cast<unsigned char>(p[0]));
    case GgufType::kInt8:
      return GgufValue::Signed(type, static_cast<signed char>(p[0]));
    case GgufType::kUint16:
      return GgufValue::Unsigned(type, LoadLittleEndian<uint16_t>(p));
    case GgufType::kInt16:
      return GgufValue::Signed(type, LoadLittleEndian<int16_t>(p));
    case GgufType::kUint32:
      return GgufValue::Unsigned(type, LoadLittleEndian<uint32_t>(p));
    case GgufType::kInt32:
      return GgufValue::Signed(type, LoadLittleEndian<int32_t>(p));
    case GgufType::kUint64:
      return GgufValue::Unsigned(type, LoadLittleEndian<uint64_t>(p));
    case GgufType::kInt64:
      return GgufValue::Signed(type, LoadLittleEndian<int64_t>(p));
    case GgufType::kFloat32: {
      uint32_t bits = LoadLittleEndian<uint32_t>(p);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      return GgufValue::Float32(f);
    }
    case GgufType::kFloat64: {
      uint64_t bits = LoadLittleEndian<uint64_t>(p);
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return GgufValue::Float64(d);
    }
    case GgufType::kBool:
      return GgufValue::Bool(p[0] != 0);
    case GgufType::kString:
    case GgufType::kArray:
      break;
  }
  return GgufValue();
}

class Parser {
 public:
  explicit Parser(const ByteSource& source) : r_(source) {}

  Result<GgufFile> Parse() {
    GgufFile f;
    f.file_size = r_.source().size();
    char magic[4];
    if (Status s = r_.Read(magic, 4, "the magic"); !s.ok()) return s;
    if (std::memcmp(magic, "GGUF", 4) != 0) return r_.Corrupt("not a GGUF file (no GGUF magic)");
    if (Status s = r_.ReadU32(&f.version, "the version"); !s.ok()) return s;
    if (f.version != 2 && f.version != 3) {
      return r_.Corrupt("GGUF version " + std::to_string(f.version) +
                        " is not supported (only 2 and 3, little-endian)");
    }
    uint64_t n_tensors = 0, n_kv = 0;
    if (Status s = r_.ReadU64(&n_tensors, "the tensor count"); !s.ok()) return s;
    if (Status s = r_.ReadU64(&n_kv, "the key/value count"); !s.ok()) return s;
    if (Status s = CheckCount(n_kv, kMinKeyValueBytes, "key/values"); !s.ok()) return s;
    f.metadata.reserve(n_kv);
    for (uint64_t i = 0; i < n_kv; ++i) {
      GgufKeyValue kv;
      std::string what = "the key of key/value " + std::to_string(i);
      if (Status s = r_.ReadString(&kv.key, what); !s.ok()) return s;
      if (!IsValidUtf8(kv.key)) return r_.Corrupt(what + " is not valid UTF-8");
      uint32_t type = 0;
      if (Status s = r_.ReadU32(&type, "the type of " + Quoted(kv.key)); !s.ok()) return s;
      if (!IsKnownType(type)) {
        return r_.Corrupt("key " + Quoted(kv.key) + " has unknown value type " +
                          std::to_string(type));
      }
      if (Status s = ReadValue(static_cast<GgufType>(type), kv.key, 0, &kv.value); !s.ok()) {
        return s;
      }
      f.metadata.push_back(std::move(kv));
    }
    if (Status s = CheckUnique(
            f.metadata, [](const GgufKeyValue& kv) -> const std::string& { return kv.key; }, "key");
        !s.ok()) {
      return s;
    }
    if (const GgufValue* a = f.Find("general.alignment")) {
      std::optional<uint64_t> v = a->AsUint();
      if (!v || *v == 0 || (*v & (*v - 1)) != 0 || *v > kMaxAlignment) {
        return r_.Corrupt("general.alignment must be a power of two up to 2^30");
      }
      f.alignment = *v;
    }

    if (Status s = CheckCount(n_tensors, kMinTensorInfoBytes, "tensors"); !s.ok()) return s;
    f.tensors.reserve(n_tensors);
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensor t;
      if (Status s = ReadTensorInfo(i, &t); !s.ok()) return s;
      f.tensors.push_back(std::move(t));
    }
    if (Status s = CheckUnique(
            f.tensors, [](const GgufTensor& t) -> const std::string& { return t.name; }, "tensor");
        !s.ok()) {
      return s;
    }

    uint64_t end = r_.offset();
    f.data_offset = (end + f.alignment - 1) / f.alignment * f.alignment;  // no overflow:
    // end is at most the file size and alignment at most 2^30
    for (const GgufTensor& t : f.tensors) {
      if (t.offset % f.alignment != 0) {
        return r_.Corrupt("tensor " + Quoted(t.name) + " has offset " + std::to_string(t.offset) +
                          ", not a multiple of the alignment " + std::to_string(f.alignment));
      }
      uint64_t data_end = f.data_offset;
      if (__builtin_add_overflow(data_end, t.offset, &data_end) ||
          __builtin_add_overflow(data_end, t.bytes, &data_end) || data_end > f.file_size) {
        return r_.Corrupt("the data of tensor " + Quoted(t.name) + " (" + std::to_string(t.bytes) +
                          " bytes at data offset " + std::to_string(t.offset) +
                          ") runs past the end of the file (" + std::to_string(f.file_size) +
                          " bytes): truncated?");
      }
    }
    return f;
  }

 private:
  // Corrupt unless the bytes left can hold |n| entries of at least |min_bytes| each.
  Status CheckCount(uint64_t n, uint64_t min_bytes, std::string_view what) {
    if (n <= r_.remaining() / min_bytes) return Status::OK();
    return r_.Corrupt("the header claims " + std::to_string(n) + " " + std::string(what) + "; " +
                      std::to_string(r_.remaining()) + " bytes cannot hold them");
  }

  Status ReadValue(GgufType type, const std::string& key, int depth, GgufValue* out) {
    if (type == GgufType::kString) {
      std::string s;
      if (Status st = r_.ReadString(&s, "the value of " + Quoted(key)); !st.ok()) return st;
      *out = GgufValue::String(std::move(s));
      return Status::OK();
    }
    if (type != GgufType::kArray) {
      char b[8];
      if (Status st = r_.Read(b, GgufTypeSize(type), "the value of " + Quoted(key)); !st.ok()) {
        return st;
      }
      *out = DecodeFixed(type, b);
      return Status::OK();
    }
    GgufArray a;
    if (Status st = ReadArray(key, depth + 1, &a); !st.ok()) return st;
    *out = GgufValue::Array(std::move(a));
    return Status::OK();
  }

  Status ReadArray(const std::string& key, int depth, GgufArray* a) {
    if (depth > kMaxGgufArrayNesting) {
      return r_.Corrupt("the value of " + Quoted(key) + " nests arrays more than " +
                        std::to_string(kMaxGgufArrayNesting) + " deep");
    }
    uint32_t type = 0;
    if (Status s = r_.ReadU32(&type, "the array type of " + Quoted(key)); !s.ok()) return s;
    if (!IsKnownType(type)) {
      return r_.Corrupt("an array of " + Quoted(key) + " has unknown element type " +
                        std::to_string(type));
    }
    a->element_type = static_cast<GgufType>(type);
    if (Status s = r_.ReadU64(&a->size, "the array length of " + Quoted(key)); !s.ok()) return s;
    if (a->size > r_.remaining() / MinElementBytes(a->element_type)) {
      return r_.Corrupt("an array of " + Quoted(key) + " claims " + std::to_string(a->size) +
                        " elements of type " + std::string(GgufTypeName(a->element_type)) + "; " +
                        std::to_string(r_.remaining()) + " bytes cannot hold them");
    }
    switch (a->element_type) {
      case GgufType::kString:
        a->strings.resize(a->size);
        for (std::string& s : a->strings) {
          if (Status st = r_.ReadString(&s, "a string of " + Quoted(key)); !st.ok()) return st;
        }
        return Status::OK();
      case GgufType::kArray:
        a->arrays.resize(a->size);
        for (GgufArray& inner : a->arrays) {
          if (Status st = ReadArray(key, depth + 1, &inner); !st.ok()) return st;
        }
        return Status::OK();
      default:
        a->raw.resize(a->size * GgufTypeSize(a->element_type));  // checked against remaining
        return r_.Read(a->raw.data(), a->raw.size(), "the array of " + Quoted(key));
    }
  }

  Status ReadTensorInfo(uint64_t i, GgufTensor* t) {
    std::string what = "the name of tensor " + std::to_string(i);
    if (Status s = r_.ReadString(&t->name, what); !s.ok()) return s;
    if (!IsValidUtf8(t->name)) return r_.Corrupt(what + " is not valid UTF-8");
    std::string name = Quoted(t->name);
    uint32_t n_dims = 0;
    if (Status s = r_.ReadU32(&n_dims, "the dimension count of " + name); !s.ok()) return s;
    if (n_dims > kGgmlMaxDims) {
      return r_.Corrupt("tensor " + name + " has " + std::to_string(n_dims) +
                        " dimensions; ggml allows at most " + std::to_string(kGgmlMaxDims));
    }
    t->dims.resize(n_dims);
    uint64_t elements = 1;
    bool overflow = false;
    for (uint64_t& d : t->dims) {
      if (Status s = r_.ReadU64(&d, "the dimensions of " + name); !s.ok()) return s;
      overflow |= d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                  __builtin_mul_overflow(elements, d, &elements);
    }
    if (overflow || elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      std::string dims;
      for (uint64_t d : t->dims) dims += (dims.empty() ? "" : " x ") + std::to_string(d);
      return r_.Corrupt("the dimensions of tensor " + name + " (" + dims + ") overflow");
    }
    t->elements = elements;
    if (Status s = r_.ReadU32(&t->ggml_type, "the type of " + name); !s.ok()) return s;
    std::optional<GgmlTypeInfo> info = GgmlType(t->ggml_type);
    if (!info) {
      return r_.Corrupt("tensor " + name + " has unknown ggml type " +
                        std::to_string(t->ggml_type));
    }
    if (Status s = r_.ReadU64(&t->offset, "the offset of " + name); !s.ok()) return s;
    uint64_t first = t->dims.empty() ? 1 : t->dims[0];
    if (first % info->block_elements != 0) {
      return r_.Corrupt("tensor " + name + " of type " + std::string(info->name) +
                        " has a first dimension of " + std::to_string(first) +
                        ", not a multiple of its block size " +
                        std::to_string(info->block_elements));
    }
    if (__builtin_mul_overflow(elements / info->block_elements, info->block_bytes, &t->bytes)) {
      return r_.Corrupt("the size of tensor " + name + " overflows");
    }
    return Status::OK();
  }

  template <typename T, typename Name>
  Status CheckUnique(const std::vector<T>& items, Name name, std::string_view what) {
    std::vector<const std::string*> names;
    names.reserve(items.size());
    for (const T& item : items) names.push_back(&name(item));
    std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return *a < *b; });
    auto dup =
        std::adjacent_find(names.begin(), names.end(), [](auto* a, auto* b) { return *a == *b; });
    if (dup != names.end()) {
      return r_.Corrupt("the " + std::string(what) + " " + Quoted(**dup) + " appears twice");
    }
    return Status::OK();
  }

  ByteReader r_;
};

nlohmann::json FloatToJson(double d) {
  return std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(nullptr);
}

nlohmann::json ArrayToJson(const GgufArray& a, const GgufJsonLimits& limits) {
  if (a.size > limits.max_array) {
    return {{"type", std::string(GgufTypeName(a.element_type))}, {"length", a.size}};
  }
  nlohmann::json out = nlohmann::json::array();
  for (uint64_t i = 0; i < a.size; ++i) {
    if (a.element_type == GgufType::kArray) {
      out.push_back(ArrayToJson(a.arrays[i], limits));
    } else {
      out.push_back(GgufValueToJson(a.Element(i), limits));
    }
  }
  return out;
}

}  // namespace

std::string_view GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
      return "UINT8";
    case GgufType::kInt8:
      return "INT8";
    case GgufType::kUint16:
      return "UINT16";
    case GgufType::kInt16:
      return "INT16";
    case GgufType::kUint32:
      return "UINT32";
    case GgufType::kInt32:
      return "INT32";
    case GgufType::kFloat32:
      return "FLOAT32";
    case GgufType::kBool:
      return "BOOL";
    case GgufType::kString:
      return "STRING";
    case GgufType::kArray:
      return "ARRAY";
    case GgufType::kUint64:
      return "UINT64";
    case GgufType::kInt64:
      return "INT64";
    case GgufType::kFloat64:
      return "FLOAT64";
  }
  return "";
}

size_t GgufTypeSize(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
    case GgufType::kArray:
      return 0;
  }
  return 0;
}

GgufValue GgufArray::Element(uint64_t i) const {
  switch (element_type) {
    case GgufType::kString:
      return GgufValue::String(strings[i]);
    case GgufType::kArray:
      return GgufValue::Array(arrays[i]);
    default:
      return DecodeFixed(element_type, raw.data() + i * GgufTypeSize(element_type));
  }
}

std::optional<uint64_t> GgufValue::AsUint() const {
  if (const auto* u = std::get_if<uint64_t>(&v_)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v_); i && *i >= 0) return static_cast<uint64_t>(*i);
  return std::nullopt;
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (const auto* i = std::get_if<int64_t>(&v_)) return *i;
  if (const auto* u = std::get_if<uint64_t>(&v_);
      u && *u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return static_cast<int64_t>(*u);
  }
  return std::nullopt;
}

std::optional<double> GgufValue::AsDouble() const {
  if (const auto* f = std::get_if<float>(&v_)) return *f;
  if (const auto* d = std::get_if<double>(&v_)) return *d;
  return std::nullopt;
}

std::optional<float> GgufValue::AsFloat32() const {
  if (const auto* f = std::get_if<float>(&v_)) return *f;
  return std::nullopt;
}

std::optional<bool> GgufValue::AsBool() const {
  if (const auto* b = std::get_if<bool>(&v_)) return *b;
  return std::nullopt;
}

const std::string* GgufValue::AsString() const { return std::get_if<std::string>(&v_); }

const GgufArray* GgufValue::AsArray() const { return std::get_if<GgufArray>(&v_); }

bool operator==(const GgufValue& a, const GgufValue& b) {
  if (a.type_ != b.type_ || a.v_.index() != b.v_.index()) return false;
  if (const auto* f = std::get_if<float>(&a.v_)) {
    return std::memcmp(f, &std::get<float>(b.v_), sizeof(float)) == 0;
  }
  if (const auto* d = std::get_if<double>(&a.v_)) {
    return std::memcmp(d, &std::get<double>(b.v_), sizeof(double)) == 0;
  }
  return a.v_ == b.v_;
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  for (const GgufKeyValue& kv : metadata) {
    if (kv.key == key) return &kv.value;
  }
  return nullptr;
}

Result<GgufFile> ReadGguf(const ByteSource& source) { return Parser(source).Parse(); }

Result<GgufFile> ReadGgufFile(const std::filesystem::path& path) {
  auto source = FileSource::Open(path);
  if (!source.has_value()) return source.error();
  return ReadGguf(**source);
}

nlohmann::json GgufValueToJson(const GgufValue& value, const GgufJsonLimits& limits) {
  switch (value.type()) {
    case GgufType::kFloat32:
    case GgufType::kFloat64:
      return FloatToJson(*value.AsDouble());
    case GgufType::kBool:
      return *value.AsBool();
    case GgufType::kString: {
      const std::string& s = *value.AsString();
      if (s.size() > limits.max_string) return {{"type", "STRING"}, {"length", s.size()}};
      return ToValidUtf8(s);
    }
    case GgufType::kArray:
      return ArrayToJson(*value.AsArray(), limits);
    case GgufType::kUint8:
    case GgufType::kUint16:
    case GgufType::kUint32:
    case GgufType::kUint64:
      return *value.AsUint();
    case GgufType::kInt8:
    case GgufType::kInt16:
    case GgufType::kInt32:
    case GgufType::kInt64:
      return *value.AsInt();
  }
  return nullptr;
}

nlohmann::json GgufMetadataToJson(const GgufFile& file, const GgufJsonLimits& limits) {
  nlohmann::json out = nlohmann::json::object();
  for (const GgufKeyValue& kv : file.metadata) out[kv.key] = GgufValueToJson(kv.value, limits);
  return out;
}

}  // namespace modeld::formats
