#include "service/quantization.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>

#include "core/text.h"
#include "sources/resolver.h"

namespace modeld::service {

namespace {

std::string AsciiUpper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

bool IsFourBit(const std::string& quant) {
  return quant.rfind("Q4", 0) == 0 || quant.rfind("IQ4", 0) == 0;
}

}  // namespace

std::string GgufQuantization(std::string_view path) {
  const std::string lower = AsciiLower(path);
  constexpr std::string_view kExt = ".gguf";
  if (lower.size() <= kExt.size() || lower.compare(lower.size() - kExt.size(), kExt.size(), kExt))
    return "";
  const size_t slash = lower.rfind('/');
  const std::string_view base =
      std::string_view(lower).substr(slash == std::string::npos ? 0 : slash + 1);
  if (base.rfind("mmproj", 0) == 0) return "";
  const std::string_view stem = std::string_view(path).substr(0, path.size() - kExt.size());
  std::string found;
  size_t start = 0;
  for (size_t i = 0; i <= stem.size(); ++i) {
    if (i < stem.size() && stem[i] != '-' && stem[i] != '.' && stem[i] != '/') continue;
    const std::string part(stem.substr(start, i - start));
    if (!part.empty() && sources::LooksLikeQuantization(part)) found = AsciiUpper(part);
    start = i + 1;
  }
  return found;
}

std::string PickDefaultQuantization(const std::vector<RepoFile>& files) {
  std::map<std::string, uint64_t> sizes;  // by name: ties go to the first
  for (const auto& f : files) {
    std::string q = GgufQuantization(f.path);
    if (!q.empty()) sizes[q] += f.size;
  }
  if (sizes.empty()) return "";
  if (sizes.count("Q4_K_M")) return "Q4_K_M";
  auto smallest = [&sizes](bool four_bit_only) -> std::optional<std::string> {
    std::optional<std::string> best;
    for (const auto& [q, size] : sizes) {
      if (four_bit_only && !IsFourBit(q)) continue;
      if (!best || size < sizes.at(*best)) best = q;
    }
    return best;
  };
  if (auto q = smallest(true)) return *q;
  return *smallest(false);
}

}  // namespace modeld::service
