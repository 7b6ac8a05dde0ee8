// gguf_dump: modeld's side of the cross-check with @huggingface/gguf (tests/clients).
//   gguf_dump --write DIR          writes the fixture files (fixtures.h), prints their paths
//   gguf_dump [--model] FILE...    prints modeld's parse of each file as JSON, every value
//                                  with its type; --model adds InspectModel over the files
// 64-bit integers are printed as decimal strings and non-finite floats as "NaN",
// "Infinity", "-Infinity", so JavaScript compares them exactly.
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fixtures.h"
#include "formats/gguf.h"
#include "formats/model_metadata.h"
#include "formats/utf8.h"

namespace {

using modeld::formats::GgufArray;
using modeld::formats::GgufType;
using modeld::formats::GgufValue;
using nlohmann::json;

json Typed(const GgufValue& v);

json TypedArray(const GgufArray& a) {
  json out = json::array();
  for (uint64_t i = 0; i < a.size; ++i) out.push_back(Typed(a.Element(i)));
  return out;
}

json Typed(const GgufValue& v) {
  switch (v.type()) {
    case GgufType::kUint64:
      return std::to_string(*v.AsUint());
    case GgufType::kInt64:
      return std::to_string(*v.AsInt());
    case GgufType::kFloat32:
    case GgufType::kFloat64: {
      double d = *v.AsDouble();
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
      return d;
    }
    case GgufType::kBool:
      return *v.AsBool();
    case GgufType::kString:
      return modeld::formats::ToValidUtf8(*v.AsString());
    case GgufType::kArray:
      return TypedArray(*v.AsArray());
    default:
      return v.AsUint() ? json(*v.AsUint()) : json(*v.AsInt());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "--write") {
    auto paths = modeld::testing::WriteCrossCheckFiles(args[1]);
    if (!paths.has_value()) {
      std::cerr << paths.error().ToString() << "\n";
      return 1;
    }
    for (const auto& p : *paths) std::cout << p.string() << "\n";
    return 0;
  }
  bool model = !args.empty() && args[0] == "--model";
  if (model) args.erase(args.begin());
  if (args.empty()) {
    std::cerr << "usage: gguf_dump --write DIR | gguf_dump [--model] FILE...\n";
    return 2;
  }
  json files = json::array();
  std::vector<modeld::formats::ModelFile> model_files;
  for (const std::string& path : args) {
    auto f = modeld::formats::ReadGgufFile(path);
    if (!f.has_value()) {
      std::cerr << f.error().ToString() << "\n";
      return 1;
    }
    json metadata = json::object();
    for (const auto& kv : f->metadata) {
      json entry = {{"type", modeld::formats::GgufTypeName(kv.value.type())},
                    {"value", Typed(kv.value)}};
      if (const GgufArray* a = kv.value.AsArray()) {
        entry["subType"] = modeld::formats::GgufTypeName(a->element_type);
      }
      metadata[kv.key] = entry;
    }
    json tensors = json::array();
    for (const auto& t : f->tensors) {
      json shape = json::array();
      for (uint64_t d : t.dims) shape.push_back(std::to_string(d));
      tensors.push_back({{"name", t.name},
                         {"n_dims", t.dims.size()},
                         {"shape", shape},
                         {"dtype", t.ggml_type},
                         {"offset", std::to_string(t.offset)}});
    }
    files.push_back({{"path", path},
                     {"version", f->version},
                     {"tensor_count", std::to_string(f->tensors.size())},
                     {"kv_count", std::to_string(f->metadata.size())},
                     {"alignment", f->alignment},
                     {"data_offset", std::to_string(f->data_offset)},
                     {"metadata", metadata},
                     {"tensors", tensors}});
    model_files.push_back({path, std::filesystem::path(path).filename().string()});
  }
  json out = {{"files", files}};
  if (model) {
    auto m = modeld::formats::InspectModel(model_files);
    if (!m.has_value()) {
      std::cerr << m.error().ToString() << "\n";
      return 1;
    }
    out["model"] = modeld::formats::ModelMetadataToJson(*m);
  }
  std::cout << out.dump(2) << "\n";
  return 0;
}
