// Ollama's model names and registry manifests. Names: "[host/][namespace/]model[:tag]" (Ollama's
// types/model/name.go), and how they map onto modeld's ModelRef.
//
// Defaults: host registry.ollama.ai, namespace "library", tag "latest". A model from an
// Ollama registry is stored as ModelRef{"<host>/<namespace>/<model>", "<tag>"}, so
// "llama3.2" is "registry.ollama.ai/library/llama3.2:latest" in modeld's listings (the
// path of its manifest in Ollama's own layout), and Shortest() gives back what Ollama
// shows ("llama3.2:latest"). The host stays registry.ollama.ai when a mirror stands in for
// it (--ollama-registry). "hf.co/org/repo:Q4_K_M" parses too (host "hf.co"); the caller
// sends such names to the Hub.
//
// Thread safety: stateless functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/names.h"
#include "core/status.h"

namespace modeld {

inline constexpr std::string_view kOllamaDefaultHost = "registry.ollama.ai";

struct OllamaName {
  std::string host{kOllamaDefaultHost};
  std::string ns = "library";
  std::string model;
  std::string tag = "latest";

  // Whether the host is the Hugging Face Hub ("hf.co", "huggingface.co").
  bool OnHub() const;
  // What Ollama displays: "llama3.2:latest", "user/model:tag", "host/ns/model:tag".
  std::string Shortest() const;
  // "<host>/<ns>/<model>:<tag>".
  std::string Full() const;
  // ModelRef{"<host>/<ns>/<model>", tag}, a host's ":PORT" written "_PORT" (a model name
  // holds no ':'); InvalidArgument for a port that is not 1-5 digits.
  Result<ModelRef> ToModelRef() const;
  bool operator==(const OllamaName&) const = default;
};

// Parses an Ollama name: an optional "http://" or "https://" (dropped), up to three
// '/'-separated parts (host, namespace, model) and an optional ":tag". Each part is
// 1-80 characters (the host 1-350) of letters, digits, '_', '-' and '.', starting with a
// letter or digit; a host holds no '_' and may carry ":port". An "@sha256:..." suffix is refused.
// InvalidArgument saying what is wrong. Never throws.
Result<OllamaName> ParseOllamaName(std::string_view text);

// The Ollama name of a stored model, when its name has the shape ToModelRef gives
// ("<host>/<ns>/<model>", the host with a dot, a "_PORT" or "localhost"); nullopt
// otherwise.
std::optional<OllamaName> OllamaNameOf(const ModelRef& ref);

inline constexpr std::string_view kOllamaManifestType =
    "application/vnd.docker.distribution.manifest.v2+json";

struct OllamaBlob {
  std::string media_type;
  std::string sha256;  // 64 lower-case hex digits
  uint64_t size = 0;
  bool operator==(const OllamaBlob&) const = default;
};
struct OllamaManifest {
  OllamaBlob config;
  std::vector<OllamaBlob> layers;
};

// A registry's manifest (schema 2): Corrupt for anything but an object with a config and
// a list of 1-1024 layers, each with a string mediaType, a "sha256:<64 hex>" digest and a
// size of at most 2^50. Pure; never throws.
Result<OllamaManifest> ParseOllamaManifest(std::string_view body);

}  // namespace modeld
