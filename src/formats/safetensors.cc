#include "formats/safetensors.h"

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "core/json.h"

namespace modeld::formats {

namespace {

struct DtypeBits {
  std::string_view name;
  uint32_t bits;
};

// The dtypes of huggingface/safetensors (safetensors/src/tensor.rs, Dtype::bitsize).
constexpr std::array<DtypeBits, 20> kDtypes = {{
    {"BOOL", 8},    {"U8", 8},   {"I8", 8},      {"F8_E5M2", 8}, {"F8_E4M3", 8},
    {"F8_E8M0", 8}, {"F4", 4},   {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"I16", 16},
    {"U16", 16},    {"F16", 16}, {"BF16", 16},   {"I32", 32},    {"U32", 32},
    {"F32", 32},    {"F64", 64}, {"I64", 64},    {"U64", 64},    {"C64", 64},
}};

// The non-negative integer |v| (not a float, not negative).
std::optional<uint64_t> Unsigned(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0)
    return static_cast<uint64_t>(v.get<int64_t>());
  return std::nullopt;
}

Status ParseTensor(const std::string& name, const nlohmann::json& info, uint64_t data_size,
                   const ByteReader& r, SafetensorsTensor* t) {
  auto bad = [&](std::string_view what) {
    return r.Corrupt("tensor '" + name + "' " + std::string(what));
  };
  if (!info.is_object()) return bad("is not an object");
  auto dtype = info.find("dtype");
  auto shape = info.find("shape");
  auto offsets = info.find("data_offsets");
  if (dtype == info.end() || !dtype->is_string()) return bad("has no string \"dtype\"");
  if (shape == info.end() || !shape->is_array()) return bad("has no \"shape\" array");
  if (offsets == info.end() || !offsets->is_array() || offsets->size() != 2) {
    return bad("has no \"data_offsets\" pair");
  }
  t->name = name;
  t->dtype = dtype->get<std::string>();
  std::optional<uint32_t> bits = SafetensorsDtypeBits(t->dtype);
  if (!bits) return bad("has unknown dtype '" + t->dtype + "'");
  t->elements = 1;
  bool overflow = false;
  for (const nlohmann::json& d : *shape) {
    std::optional<uint64_t> v = Unsigned(d);
    if (!v) return bad("has a dimension that is not a non-negative integer: " + d.dump());
    t->shape.push_back(*v);
    overflow |= __builtin_mul_overflow(t->elements, *v, &t->elements);
  }
  std::optional<uint64_t> begin = Unsigned((*offsets)[0]), end = Unsigned((*offsets)[1]);
  if (!begin || !end || *begin > *end) return bad("has invalid data_offsets " + offsets->dump());
  t->begin = *begin;
  t->end = *end;
  if (t->end > data_size) {
    return bad("ends at data offset " + std::to_string(t->end) + ", past the " +
               std::to_string(data_size) + " bytes of data in the file: truncated?");
  }
  uint64_t total_bits = 0;
  if (overflow || __builtin_mul_overflow(t->elements, uint64_t{*bits}, &total_bits)) {
    return bad("has a shape whose size overflows");
  }
  if (total_bits % 8 != 0 || total_bits / 8 != t->end - t->begin) {
    return bad("has " + std::to_string(t->elements) + " elements of " + t->dtype + " in " +
               std::to_string(t->end - t->begin) + " bytes");
  }
  return Status::OK();
}

}  // namespace

std::optional<uint32_t> SafetensorsDtypeBits(std::string_view dtype) {
  for (const DtypeBits& d : kDtypes) {
    if (d.name == dtype) return d.bits;
  }
  return std::nullopt;
}

Result<SafetensorsFile> ReadSafetensors(const ByteSource& source) {
  ByteReader r(source);
  SafetensorsFile f;
  f.file_size = source.size();
  if (Status s = r.ReadU64(&f.header_size, "the header length"); !s.ok()) return s;
  if (f.header_size > kMaxSafetensorsHeader) {
    return r.Corrupt("the header claims " + std::to_string(f.header_size) +
                     " bytes, more than the " + std::to_string(kMaxSafetensorsHeader) +
                     " modeld reads");
  }
  if (f.header_size > r.remaining()) {
    return r.Corrupt("the header claims " + std::to_string(f.header_size) +
                     " bytes; the file has " + std::to_string(r.remaining()) + " left");
  }
  std::string header(f.header_size, '\0');
  if (Status s = r.Read(header.data(), header.size(), "the header"); !s.ok()) return s;
  f.data_offset = 8 + f.header_size;
  if (header.empty() || header[0] != '{') return r.Corrupt("the header is not a JSON object");
  auto json = ParseJson(header, source.name() + " header");
  if (!json.has_value()) return Status::Corrupt(json.error().message());
  if (!json->is_object()) return r.Corrupt("the header is not a JSON object");
  uint64_t data_size = f.file_size - f.data_offset;
  for (const auto& [name, info] : json->items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) return r.Corrupt("__metadata__ is not an object");
      for (const auto& [k, v] : info.items()) {
        if (!v.is_string()) return r.Corrupt("__metadata__ '" + k + "' is not a string");
        f.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    SafetensorsTensor t;
    if (Status s = ParseTensor(name, info, data_size, r, &t); !s.ok()) return s;
    f.tensors.push_back(std::move(t));
  }
  // nlohmann's object is a std::map: items() came sorted by name, duplicates merged.
  return f;
}

Result<SafetensorsFile> ReadSafetensorsFile(const std::filesystem::path& path) {
  auto source = FileSource::Open(path);
  if (!source.has_value()) return source.error();
  return ReadSafetensors(**source);
}

std::vector<std::string> SafetensorsIndex::Shards() const {
  std::set<std::string> shards;
  for (const auto& [tensor, file] : weight_map) shards.insert(file);
  return {shards.begin(), shards.end()};
}

Result<SafetensorsIndex> ParseSafetensorsIndex(std::string_view text, std::string_view what) {
  auto json = ParseJson(text, what);
  if (!json.has_value()) return Status::Corrupt(json.error().message());
  std::string name(what);
  if (!json->is_object()) return Status::Corrupt(name + " is not a JSON object");
  auto map = json->find("weight_map");
  if (map == json->end() || !map->is_object()) {
    return Status::Corrupt(name + " has no \"weight_map\" object");
  }
  SafetensorsIndex index;
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string() || file.get_ref<const std::string&>().empty()) {
      return Status::Corrupt(name + " maps tensor '" + tensor + "' to " + file.dump() +
                             ", not a file name");
    }
    index.weight_map[tensor] = file.get<std::string>();
  }
  if (auto meta = json->find("metadata"); meta != json->end() && meta->is_object()) {
    if (auto total = meta->find("total_size"); total != meta->end()) {
      index.total_size = Unsigned(*total);
    }
  }
  return index;
}

}  // namespace modeld::formats
