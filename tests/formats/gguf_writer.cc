#include "gguf_writer.h"

#include <cstring>
#include <fstream>

#include "formats/ggml_types.h"

namespace modeld::testing {

using formats::GgufArray;
using formats::GgufType;
using formats::GgufValue;

namespace {

template <typename T>
void Put(std::string* out, T v) {
  auto u = static_cast<std::make_unsigned_t<T>>(v);
  for (size_t i = 0; i < sizeof(T); ++i) out->push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
}

void PutString(std::string* out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out->append(s);
}

// A fixed-size value's bytes.
void PutFixed(std::string* out, const GgufValue& v) {
  switch (v.type()) {
    case GgufType::kUint8:
    case GgufType::kBool:
      out->push_back(static_cast<char>(v.type() == GgufType::kBool ? *v.AsBool() : *v.AsUint()));
      return;
    case GgufType::kInt8:
      out->push_back(static_cast<char>(*v.AsInt()));
      return;
    case GgufType::kUint16:
      return Put<uint16_t>(out, static_cast<uint16_t>(*v.AsUint()));
    case GgufType::kInt16:
      return Put<int16_t>(out, static_cast<int16_t>(*v.AsInt()));
    case GgufType::kUint32:
      return Put<uint32_t>(out, static_cast<uint32_t>(*v.AsUint()));
    case GgufType::kInt32:
      return Put<int32_t>(out, static_cast<int32_t>(*v.AsInt()));
    case GgufType::kUint64:
      return Put<uint64_t>(out, *v.AsUint());
    case GgufType::kInt64:
      return Put<int64_t>(out, *v.AsInt());
    case GgufType::kFloat32: {
      float f = *v.AsFloat32();
      uint32_t bits;
      std::memcpy(&bits, &f, sizeof bits);
      return Put<uint32_t>(out, bits);
    }
    case GgufType::kFloat64: {
      double d = *v.AsDouble();
      uint64_t bits;
      std::memcpy(&bits, &d, sizeof bits);
      return Put<uint64_t>(out, bits);
    }
    case GgufType::kString:
    case GgufType::kArray:
      return;
  }
}

void PutArray(std::string* out, const GgufArray& a) {
  Put<uint32_t>(out, static_cast<uint32_t>(a.element_type));
  Put<uint64_t>(out, a.size);
  if (a.element_type == GgufType::kString) {
    for (const std::string& s : a.strings) PutString(out, s);
  } else if (a.element_type == GgufType::kArray) {
    for (const GgufArray& inner : a.arrays) PutArray(out, inner);
  } else {
    out->append(a.raw);
  }
}

void PutValue(std::string* out, const GgufValue& v) {
  if (v.type() == GgufType::kString) return PutString(out, *v.AsString());
  if (v.type() == GgufType::kArray) return PutArray(out, *v.AsArray());
  PutFixed(out, v);
}

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

void AppendU32(std::string* out, uint32_t v) { Put<uint32_t>(out, v); }
void AppendU64(std::string* out, uint64_t v) { Put<uint64_t>(out, v); }
void AppendGgufString(std::string* out, std::string_view s) { PutString(out, s); }

std::string EncodeGgufHeader(uint32_t version, uint64_t n_tensors, uint64_t n_kv,
                             const std::vector<formats::GgufKeyValue>& kvs) {
  std::string out = "GGUF";
  Put<uint32_t>(&out, version);
  Put<uint64_t>(&out, n_tensors);
  Put<uint64_t>(&out, n_kv);
  for (const formats::GgufKeyValue& kv : kvs) {
    PutString(&out, kv.key);
    Put<uint32_t>(&out, static_cast<uint32_t>(kv.value.type()));
    PutValue(&out, kv.value);
  }
  return out;
}

void AppendTensorInfo(std::string* out, std::string_view name, const std::vector<uint64_t>& dims,
                      uint32_t ggml_type, uint64_t offset) {
  PutString(out, name);
  Put<uint32_t>(out, static_cast<uint32_t>(dims.size()));
  for (uint64_t d : dims) Put<uint64_t>(out, d);
  Put<uint32_t>(out, ggml_type);
  Put<uint64_t>(out, offset);
}

std::string EncodeGguf(const GgufSpec& spec) {
  uint64_t alignment = formats::kGgufDefaultAlignment;
  for (const auto& kv : spec.metadata) {
    // (A zero alignment, which readers refuse, is written with the default layout.)
    if (kv.key == "general.alignment") alignment = kv.value.AsUint().value_or(0);
  }
  if (alignment == 0) {
    alignment = formats::kGgufDefaultAlignment;
  }
  std::string out =
      EncodeGgufHeader(spec.version, spec.tensors.size(), spec.metadata.size(), spec.metadata);
  uint64_t offset = 0;
  for (const GgufTensorSpec& t : spec.tensors) {
    AppendTensorInfo(&out, t.name, t.dims, t.ggml_type, offset);
    uint64_t elements = 1;
    for (uint64_t d : t.dims) elements *= d;
    auto info = formats::GgmlType(t.ggml_type);
    offset = AlignUp(offset + elements / info->block_elements * info->block_bytes, alignment);
  }
  out.resize(AlignUp(out.size(), alignment) + offset, '\0');
  return out;
}

std::string EncodeGguf(const formats::GgufFile& file) {
  std::string out =
      EncodeGgufHeader(file.version, file.tensors.size(), file.metadata.size(), file.metadata);
  uint64_t end = file.file_size;
  for (const formats::GgufTensor& t : file.tensors) {
    AppendTensorInfo(&out, t.name, t.dims, t.ggml_type, t.offset);
    end = std::max(end, file.data_offset + t.offset + t.bytes);
  }
  out.resize(std::max<uint64_t>(end, out.size()), '\0');
  return out;
}

GgufArray MakeArray(GgufType element_type, const std::vector<GgufValue>& elements) {
  GgufArray a;
  a.element_type = element_type;
  a.size = elements.size();
  for (const GgufValue& v : elements) {
    if (element_type == GgufType::kString) {
      a.strings.push_back(*v.AsString());
    } else {
      PutFixed(&a.raw, v);
    }
  }
  return a;
}

GgufArray MakeNestedArray(const std::vector<GgufArray>& arrays) {
  GgufArray a;
  a.element_type = GgufType::kArray;
  a.size = arrays.size();
  a.arrays = arrays;
  return a;
}

formats::GgufKeyValue KvString(std::string key, std::string value) {
  return {std::move(key), GgufValue::String(std::move(value))};
}

formats::GgufKeyValue KvU32(std::string key, uint32_t value) {
  return {std::move(key), GgufValue::Unsigned(GgufType::kUint32, value)};
}

Status WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) return Status::IoError("cannot write " + path.string());
  return Status::OK();
}

}  // namespace modeld::testing
