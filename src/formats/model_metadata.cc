#include "formats/model_metadata.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <type_traits>

#include "formats/byte_source.h"
#include "formats/ggml_types.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "formats/utf8.h"

namespace modeld::formats {

namespace {

using Json = nlohmann::json;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The whole of a small file, refused (Corrupt) past |cap| bytes.
Result<std::string> ReadSmallFile(const ModelFile& f, uint64_t cap) {
  auto source = FileSource::Open(f.path);
  if (!source.has_value()) return source.error();
  if ((*source)->size() > cap) {
    return Status::Corrupt(f.path.string() + " is " + std::to_string((*source)->size()) +
                           " bytes, more than the " + std::to_string(cap) + " modeld reads");
  }
  std::string text((*source)->size(), '\0');
  if (Status s = (*source)->ReadAt(0, text.data(), text.size()); !s.ok()) return s;
  return text;
}

// Type names ordered by the bytes they hold, most first (ties by name).
std::vector<std::string> ByBytes(const std::map<std::string, uint64_t>& bytes) {
  std::vector<std::pair<std::string, uint64_t>> v(bytes.begin(), bytes.end());
  std::stable_sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
  std::vector<std::string> names;
  for (auto& [name, n] : v) names.push_back(name);
  return names;
}

Status AddChecked(uint64_t* sum, uint64_t v, const std::string& what) {
  if (__builtin_add_overflow(*sum, v, sum)) return Status::Corrupt(what + ": the sizes overflow");
  return Status::OK();
}

// ---- GGUF -------------------------------------------------------------------------------

struct GgufPart {
  std::string relative;  // in the model
  std::string name;      // for errors: the file's path
  GgufFile gguf;
};

struct GgufModel {
  std::string key;              // the split prefix or the file's own path
  uint32_t declared_parts = 1;  // from the NNNNN-of-MMMMM name
  std::vector<GgufPart> parts;
  uint64_t bytes = 0;
  bool projector = false;
};

std::string StringKey(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.Find(key);
  return v && v->AsString() ? ToValidUtf8(*v->AsString()) : "";
}

uint64_t UintKey(const GgufFile& f, std::string_view key) {
  const GgufValue* v = f.Find(key);
  std::optional<uint64_t> u = v ? v->AsUint() : std::nullopt;
  return u.value_or(0);
}

// Checks that |m|'s parts are one whole split model and orders them by split.no.
Status CheckSplit(GgufModel& m) {
  const std::string first = m.parts.front().name;
  bool any_split = false;
  for (GgufPart& p : m.parts) any_split |= p.gguf.Find("split.count") != nullptr;
  if (!any_split) {
    if (m.parts.size() != 1) {
      return Status::Corrupt(first + ": a split GGUF without split.count metadata");
    }
    if (m.declared_parts > 1) {
      return Status::Corrupt(first + " is 1 of " + std::to_string(m.declared_parts) +
                             " parts, the others are missing");
    }
    return Status::OK();
  }
  uint64_t count = UintKey(m.parts.front().gguf, "split.count");
  std::set<uint64_t> seen;
  for (GgufPart& p : m.parts) {
    const std::string& name = p.name;
    if (UintKey(p.gguf, "split.count") != count || !p.gguf.Find("split.no")) {
      return Status::Corrupt(name + ": its split.count or split.no disagrees with " + first);
    }
    uint64_t no = UintKey(p.gguf, "split.no");
    if (no >= count || !seen.insert(no).second) {
      return Status::Corrupt(name + ": split.no " + std::to_string(no) + " of " +
                             std::to_string(count) + " is out of range or repeated");
    }
  }
  if (count != m.parts.size()) {
    return Status::Corrupt(first + ": a split model of " + std::to_string(count) + " parts, " +
                           std::to_string(m.parts.size()) + " present");
  }
  std::sort(m.parts.begin(), m.parts.end(), [](const GgufPart& a, const GgufPart& b) {
    return UintKey(a.gguf, "split.no") < UintKey(b.gguf, "split.no");
  });
  uint64_t tensors = 0;
  for (GgufPart& p : m.parts) tensors += p.gguf.tensors.size();
  const GgufValue* declared = m.parts.front().gguf.Find("split.tensors.count");
  if (declared && declared->AsUint() != tensors) {
    return Status::Corrupt(first + ": split.tensors.count says " +
                           std::to_string(declared->AsUint().value_or(0)) +
                           " tensors, the parts hold " + std::to_string(tensors));
  }
  return Status::OK();
}

Status DescribeGgufParts(std::vector<GgufPart> parts, ModelMetadata* m) {
  static const std::regex kSplitName(R"((.*)-(\d{5})-of-(\d{5})\.gguf)",
                                     std::regex::icase | std::regex::optimize);
  std::map<std::string, GgufModel> models;
  for (GgufPart& part : parts) {
    std::smatch match;
    std::string key = part.relative;
    uint32_t declared = 1;
    if (std::regex_match(part.relative, match, kSplitName)) {
      key = match[1].str() + ".gguf";
      declared = static_cast<uint32_t>(std::stoul(match[3].str()));
    }
    GgufModel& model = models[key];
    model.key = key;
    model.declared_parts = declared;
    for (const GgufTensor& t : part.gguf.tensors) model.bytes += t.bytes;  // a ranking only
    model.projector |= StringKey(part.gguf, "general.architecture") == "clip" ||
                       Lower(part.relative).find("mmproj") != std::string::npos;
    model.parts.push_back(std::move(part));
  }
  if (models.empty()) return Status::OK();
  GgufModel* best = nullptr;
  for (auto& [key, model] : models) {
    auto rank = [](const GgufModel& g) { return std::make_pair(!g.projector, g.bytes); };
    if (best == nullptr || rank(model) > rank(*best)) best = &model;
  }
  if (Status s = CheckSplit(*best); !s.ok()) return s;

  const GgufFile& head = best->parts.front().gguf;
  m->format = "gguf";
  m->architecture = StringKey(head, "general.architecture");
  m->name = StringKey(head, "general.name");
  m->split_count = static_cast<uint32_t>(best->parts.size());
  std::map<std::string, uint64_t> type_bytes;
  for (const GgufPart& p : best->parts) {
    m->files.push_back(p.relative);
    for (const GgufTensor& t : p.gguf.tensors) {
      const std::string& what = p.name;
      if (Status s = AddChecked(&m->parameter_count, t.elements, what); !s.ok()) return s;
      if (Status s = AddChecked(&m->tensor_bytes, t.bytes, what); !s.ok()) return s;
      type_bytes[std::string(GgmlType(t.ggml_type)->name)] += t.bytes;
      ++m->tensor_count;
    }
  }
  m->dtypes = ByBytes(type_bytes);
  std::optional<std::string_view> file_type;
  if (const GgufValue* ft = head.Find("general.file_type"); ft && ft->AsUint()) {
    if (*ft->AsUint() <= UINT32_MAX)
      file_type = LlamaFileTypeName(static_cast<uint32_t>(*ft->AsUint()));
  }
  if (file_type) {
    m->quantization = std::string(*file_type);
  } else if (!m->dtypes.empty()) {
    m->quantization = m->dtypes.front();
  }
  if (!m->architecture.empty()) {
    m->context_length = UintKey(head, m->architecture + ".context_length");
    m->embedding_length = UintKey(head, m->architecture + ".embedding_length");
    m->block_count = UintKey(head, m->architecture + ".block_count");
  }
  m->gguf_metadata = GgufMetadataToJson(head);
  return Status::OK();
}

Status DescribeGguf(const std::vector<const ModelFile*>& files, ModelMetadata* m) {
  std::vector<GgufPart> parts;
  for (const ModelFile* f : files) {
    auto gguf = ReadGgufFile(f->path);
    if (!gguf.has_value()) return gguf.error();
    parts.push_back({f->relative, f->path.string(), std::move(gguf).value()});
  }
  return DescribeGgufParts(std::move(parts), m);
}

// What every format's description ends with.
void Finish(ModelMetadata* m) {
  if (m->has_config) {
    if (m->architecture.empty()) {
      m->architecture = !m->config.model_type.empty()      ? m->config.model_type
                        : !m->config.architectures.empty() ? m->config.architectures.front()
                                                           : "";
    }
    if (m->context_length == 0) m->context_length = m->config.max_position_embeddings;
    if (m->embedding_length == 0) m->embedding_length = m->config.hidden_size;
    if (m->block_count == 0) m->block_count = m->config.num_hidden_layers;
  }
  m->parameters = ParameterString(m->parameter_count);
  if (m->parameter_count > 0) {
    m->bits_per_weight = static_cast<double>(m->tensor_bytes) * 8 / m->parameter_count;
  }
}

// ---- safetensors --------------------------------------------------------------------------

// The shards an index names, as files of the model (relative to the index's directory).
Result<std::vector<const ModelFile*>> IndexShards(
    const ModelFile& index_file, const std::map<std::string, const ModelFile*>& by_relative,
    SafetensorsIndex* index) {
  auto text = ReadSmallFile(index_file, kMaxSafetensorsIndex);
  if (!text.has_value()) return text.error();
  auto parsed = ParseSafetensorsIndex(*text, index_file.path.string());
  if (!parsed.has_value()) return parsed.error();
  *index = std::move(parsed).value();
  std::string dir;
  if (size_t slash = index_file.relative.rfind('/'); slash != std::string::npos) {
    dir = index_file.relative.substr(0, slash + 1);
  }
  std::vector<const ModelFile*> shards;
  for (const std::string& shard : index->Shards()) {
    auto it = by_relative.find(dir + shard);
    if (it == by_relative.end()) {
      return Status::Corrupt(index_file.path.string() + " names shard '" + shard +
                             "', which the model does not have");
    }
    shards.push_back(it->second);
  }
  return shards;
}

Status DescribeSafetensors(const std::vector<const ModelFile*>& tensor_files,
                           const std::vector<const ModelFile*>& indexes, ModelMetadata* m) {
  std::map<std::string, const ModelFile*> by_relative;
  for (const ModelFile* f : tensor_files) by_relative[f->relative] = f;
  std::vector<const ModelFile*> shards = tensor_files;
  std::optional<SafetensorsIndex> index;
  const ModelFile* index_file = nullptr;
  if (!indexes.empty()) {
    index_file = indexes.front();
    for (const ModelFile* f : indexes) {
      if (f->relative == "model.safetensors.index.json") index_file = f;
    }
    index.emplace();
    auto named = IndexShards(*index_file, by_relative, &*index);
    if (!named.has_value()) return named.error();
    shards = std::move(named).value();
  }
  m->format = "safetensors";
  m->split_count = static_cast<uint32_t>(shards.size());
  std::map<std::string, uint64_t> dtype_bytes;
  for (const ModelFile* f : shards) {
    auto st = ReadSafetensorsFile(f->path);
    if (!st.has_value()) return st.error();
    m->files.push_back(f->relative);
    std::string what = f->path.string();
    for (const SafetensorsTensor& t : st->tensors) {
      if (Status s = AddChecked(&m->parameter_count, t.elements, what); !s.ok()) return s;
      if (Status s = AddChecked(&m->tensor_bytes, t.end - t.begin, what); !s.ok()) return s;
      dtype_bytes[t.dtype] += t.end - t.begin;
      ++m->tensor_count;
    }
    for (const auto& [k, v] : st->metadata) m->safetensors_metadata.emplace(k, v);
    if (!index) continue;
    std::string shard = f->relative.substr(f->relative.rfind('/') + 1);
    std::set<std::string_view> held;
    for (const SafetensorsTensor& t : st->tensors) held.insert(t.name);
    for (const auto& [tensor, file] : index->weight_map) {
      if (file == shard && !held.count(tensor)) {
        return Status::Corrupt(index_file->path.string() + " maps tensor '" + tensor + "' to " +
                               what + ", which does not hold it");
      }
    }
  }
  m->dtypes = ByBytes(dtype_bytes);
  if (!m->dtypes.empty()) m->quantization = m->dtypes.front();
  return Status::OK();
}

// ---- JSON -------------------------------------------------------------------------------

// Reads optional fields of a registry object, remembering the first mistyped one.
class FieldReader {
 public:
  explicit FieldReader(const Json& j) : j_(j) {}
  template <typename T>
  void Get(const char* key, T* out) {
    auto it = j_.find(key);
    if (it == j_.end()) return;
    if constexpr (std::is_same_v<T, bool>) {
      if (it->is_boolean()) return void(*out = it->get<bool>());
    } else if constexpr (std::is_same_v<T, double>) {
      if (it->is_number()) return void(*out = it->get<double>());
    } else if constexpr (std::is_integral_v<T>) {
      // Built in memory a non-negative number may still be a signed one.
      if (it->is_number_integer() && (it->is_number_unsigned() || it->get<int64_t>() >= 0) &&
          it->get<uint64_t>() <= std::numeric_limits<T>::max()) {
        return void(*out = static_cast<T>(it->get<uint64_t>()));
      }
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (it->is_string()) return void(*out = it->get<std::string>());
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      if (it->is_array() &&
          std::all_of(it->begin(), it->end(), [](auto& e) { return e.is_string(); })) {
        return void(*out = it->get<std::vector<std::string>>());
      }
    } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
      if (it->is_object() &&
          std::all_of(it->begin(), it->end(), [](auto& e) { return e.is_string(); })) {
        return void(*out = it->get<std::map<std::string, std::string>>());
      }
    } else if constexpr (std::is_same_v<T, Json>) {
      if (it->is_object()) return void(*out = *it);
    }
    if (bad_.empty()) bad_ = key;
  }
  Status status(std::string_view what) const {
    if (bad_.empty()) return Status::OK();
    return Status::Corrupt(std::string(what) + ": field '" + bad_ + "' has the wrong type");
  }

 private:
  const Json& j_;
  std::string bad_;
};

}  // namespace

Result<ModelMetadata> InspectModel(const std::vector<ModelFile>& files) {
  ModelMetadata m;
  std::vector<const ModelFile*> gguf, safetensors, indexes;
  const ModelFile* config = nullptr;
  for (const ModelFile& f : files) {
    std::string lower = Lower(f.relative);
    if (EndsWith(lower, ".gguf")) {
      gguf.push_back(&f);
    } else if (EndsWith(lower, ".safetensors")) {
      safetensors.push_back(&f);
    } else if (EndsWith(lower, ".safetensors.index.json")) {
      indexes.push_back(&f);
    } else if (f.relative == "config.json") {
      config = &f;
    } else if (f.relative == "tokenizer_config.json") {
      m.has_tokenizer_config = true;
    }
  }
  auto by_path = [](const ModelFile* a, const ModelFile* b) { return a->relative < b->relative; };
  for (auto* v : {&gguf, &safetensors, &indexes}) std::sort(v->begin(), v->end(), by_path);

  if (config != nullptr) {
    auto text = ReadSmallFile(*config, kMaxHfConfigBytes);
    if (!text.has_value()) return text.error();
    auto parsed = ParseHfConfig(*text, config->path.string());
    if (!parsed.has_value()) return parsed.error();
    m.has_config = true;
    m.config = std::move(parsed).value();
  }
  Status s;
  if (!gguf.empty()) {
    s = DescribeGguf(gguf, &m);
  } else if (!safetensors.empty() || !indexes.empty()) {
    s = DescribeSafetensors(safetensors, indexes, &m);
  }
  if (!s.ok()) return s;

  Finish(&m);
  return m;
}

Result<ModelMetadata> DescribeGgufModel(std::vector<std::pair<std::string, GgufFile>> files) {
  std::vector<GgufPart> parts;
  for (auto& [relative, gguf] : files) parts.push_back({relative, relative, std::move(gguf)});
  ModelMetadata m;
  if (Status s = DescribeGgufParts(std::move(parts), &m); !s.ok()) return s;
  Finish(&m);
  return m;
}

nlohmann::json ModelMetadataToJson(const ModelMetadata& m) {
  Json j = {
      {"version", m.version},
      {"format", m.format},
      {"architecture", m.architecture},
      {"name", m.name},
      {"quantization", m.quantization},
      {"parameter_count", m.parameter_count},
      {"parameters", m.parameters},
      {"tensor_bytes", m.tensor_bytes},
      {"bits_per_weight", m.bits_per_weight},
      {"context_length", m.context_length},
      {"embedding_length", m.embedding_length},
      {"block_count", m.block_count},
      {"split_count", m.split_count},
      {"tensor_count", m.tensor_count},
      {"dtypes", m.dtypes},
      {"files", m.files},
      {"has_config", m.has_config},
      {"has_tokenizer_config", m.has_tokenizer_config},
      {"safetensors_metadata", m.safetensors_metadata},
      {"gguf_metadata", m.gguf_metadata},
  };
  if (m.has_config) {
    j["config"] = {
        {"architectures", m.config.architectures},
        {"model_type", m.config.model_type},
        {"max_position_embeddings", m.config.max_position_embeddings},
        {"hidden_size", m.config.hidden_size},
        {"num_hidden_layers", m.config.num_hidden_layers},
        {"torch_dtype", m.config.torch_dtype},
    };
  }
  return j;
}

Result<ModelMetadata> ModelMetadataFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::Corrupt("model metadata is not a JSON object");
  ModelMetadata m;
  FieldReader r(j);
  r.Get("version", &m.version);
  r.Get("format", &m.format);
  r.Get("architecture", &m.architecture);
  r.Get("name", &m.name);
  r.Get("quantization", &m.quantization);
  r.Get("parameter_count", &m.parameter_count);
  r.Get("parameters", &m.parameters);
  r.Get("tensor_bytes", &m.tensor_bytes);
  r.Get("bits_per_weight", &m.bits_per_weight);
  r.Get("context_length", &m.context_length);
  r.Get("embedding_length", &m.embedding_length);
  r.Get("block_count", &m.block_count);
  r.Get("split_count", &m.split_count);
  r.Get("tensor_count", &m.tensor_count);
  r.Get("dtypes", &m.dtypes);
  r.Get("files", &m.files);
  r.Get("has_config", &m.has_config);
  r.Get("has_tokenizer_config", &m.has_tokenizer_config);
  r.Get("safetensors_metadata", &m.safetensors_metadata);
  r.Get("gguf_metadata", &m.gguf_metadata);
  if (Status s = r.status("model metadata"); !s.ok()) return s;
  if (auto c = j.find("config"); c != j.end()) {
    if (!c->is_object())
      return Status::Corrupt("model metadata: field 'config' has the wrong type");
    FieldReader cr(*c);
    cr.Get("architectures", &m.config.architectures);
    cr.Get("model_type", &m.config.model_type);
    cr.Get("max_position_embeddings", &m.config.max_position_embeddings);
    cr.Get("hidden_size", &m.config.hidden_size);
    cr.Get("num_hidden_layers", &m.config.num_hidden_layers);
    cr.Get("torch_dtype", &m.config.torch_dtype);
    if (Status s = cr.status("model metadata config"); !s.ok()) return s;
  }
  return m;
}

std::string ParameterString(uint64_t count) {
  if (count == 0) return "";
  if (count < 1000) return std::to_string(count);
  static constexpr char kUnits[] = {'K', 'M', 'B', 'T'};
  double scale = 1;
  char buf[48];
  for (size_t u = 0; u < sizeof kUnits; ++u) {
    scale *= 1000;
    double x = static_cast<double>(count) / scale;
    bool last = u + 1 == sizeof kUnits;
    if (x < 9.95) {
      std::snprintf(buf, sizeof buf, "%.1f", x);
      std::string s = buf;
      if (EndsWith(s, ".0")) s.resize(s.size() - 2);
      return s + kUnits[u];
    }
    if (x < 999.5 || last) {
      std::snprintf(buf, sizeof buf, "%.0f%c", x, kUnits[u]);
      return buf;
    }
  }
  return "";
}

}  // namespace modeld::formats
