// Ollama's names and registry manifests (core/ollama.h, issue 15): ParseOllamaName on
// names from clients and ParseOllamaManifest on a registry's (or Ollama's directory's)
// manifests. The first byte picks the parser; the rest is the input.
//
// Invariants: nothing throws; a refused name is InvalidArgument; an accepted name's parts
// are non-empty and hold no '/', its Full() parses back to itself, and its ModelRef (when
// it has one) is a valid name and version that OllamaNameOf maps back (always, for a
// host with a dot, a port or "localhost"); a refused manifest
// is Corrupt; an accepted one has 1-1024 layers, each digest 64 lower-case hex digits.
#include "core/ollama.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  if (size == 0) return 0;
  std::string_view text = fuzz::AsText(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto name = ParseOllamaName(text);
    if (!name.has_value()) {
      FUZZ_CHECK(name.error().code() == Status::Code::kInvalidArgument);
      return 0;
    }
    for (const std::string* part : {&name->host, &name->ns, &name->model, &name->tag}) {
      FUZZ_CHECK(!part->empty() && part->find('/') == std::string::npos);
    }
    auto again = ParseOllamaName(name->Full());
    FUZZ_CHECK(again.has_value() && *again == *name);
    auto shortest = ParseOllamaName(name->Shortest());
    FUZZ_CHECK(shortest.has_value() && *shortest == *name);
    if (auto ref = name->ToModelRef(); ref.has_value()) {
      FUZZ_CHECK(ValidateModelName(ref->name).ok() && ValidateVersion(ref->version).ok());
      auto back = OllamaNameOf(*ref);
      if (name->host.find('.') != std::string::npos || name->host.find(':') != std::string::npos ||
          name->host == "localhost") {
        FUZZ_CHECK(back.has_value());
      }
      if (back) FUZZ_CHECK(*back == *name);
    }
    return 0;
  }
  auto m = ParseOllamaManifest(text);
  if (!m.has_value()) {
    FUZZ_CHECK(m.error().code() == Status::Code::kCorrupt);
    return 0;
  }
  FUZZ_CHECK(!m->layers.empty() && m->layers.size() <= 1024);
  auto hex = [](const std::string& s) {
    if (s.size() != 64) return false;
    for (char c : s) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  };
  FUZZ_CHECK(hex(m->config.sha256));
  for (const auto& l : m->layers) FUZZ_CHECK(hex(l.sha256));
  return 0;
}
