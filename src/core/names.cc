#include "core/names.h"

#include <cctype>
#include <cstdint>

#include "core/checksum.h"
#include "core/text.h"

namespace modeld {

namespace {

std::string Quote(std::string_view s) {
  std::string out = "'";
  for (char c : s.substr(0, 80)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? std::string(1, c) : std::string("?");
  }
  if (s.size() > 80) out += "...";
  return out + "'";
}

bool NameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// Well-formed UTF-8 (RFC 3629: no overlong forms, surrogates or code points past
// U+10FFFF), as JSON requires of every string modeld writes.
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

Status ValidateModelName(std::string_view name) {
  if (name.empty()) return Status::InvalidArgument("model name is empty");
  if (name.size() > 200) return Status::InvalidArgument("model name is longer than 200 characters");
  int segments = 0;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string_view seg =
        name.substr(start, slash == std::string_view::npos ? name.npos : slash - start);
    ++segments;
    if (seg.empty()) {
      return Status::InvalidArgument("model name " + Quote(name) + " has an empty path segment");
    }
    if (seg.front() == '.' || seg.front() == '-') {
      return Status::InvalidArgument("model name " + Quote(name) +
                                     " has a segment starting with '.' or '-'");
    }
    for (char c : seg) {
      if (!NameChar(c)) {
        return Status::InvalidArgument("model name " + Quote(name) +
                                       " may only contain letters, digits, '.', '_', '-' and '/'");
      }
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (segments > 4) return Status::InvalidArgument("model name " + Quote(name) + " is too deep");
  return Status::OK();
}

Status ValidateVersion(std::string_view version) {
  if (version.empty()) return Status::InvalidArgument("version is empty");
  if (version.size() > 128) return Status::InvalidArgument("version is longer than 128 characters");
  if (version.front() == '.' || version.front() == '-') {
    return Status::InvalidArgument("version " + Quote(version) + " starts with '.' or '-'");
  }
  for (char c : version) {
    if (!NameChar(c) && c != '+') {
      return Status::InvalidArgument("version " + Quote(version) +
                                     " may only contain letters, digits, '.', '_', '+' and '-'");
    }
  }
  return Status::OK();
}

Status ValidateRelativePath(std::string_view path) {
  if (path.empty()) return Status::InvalidArgument("file path is empty");
  if (path.size() > 1024) return Status::InvalidArgument("file path is longer than 1024 bytes");
  if (path.front() == '/') {
    return Status::InvalidArgument("file path " + Quote(path) + " is absolute");
  }
  for (char c : path) {
    if (c == '\0' || std::iscntrl(static_cast<unsigned char>(c))) {
      return Status::InvalidArgument("file path " + Quote(path) + " contains a control character");
    }
    if (c == '\\') return Status::InvalidArgument("file path " + Quote(path) + " contains '\\'");
  }
  if (!IsUtf8(path))
    return Status::InvalidArgument("file path " + Quote(path) + " is not valid UTF-8");
  size_t start = 0;
  for (;;) {
    size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? path.npos : slash - start);
    if (seg.empty())
      return Status::InvalidArgument("file path " + Quote(path) + " has an empty segment");
    if (seg == "." || seg == "..") {
      return Status::InvalidArgument("file path " + Quote(path) + " contains '.' or '..'");
    }
    if (seg.size() == 4 && seg[0] == '.' && (seg[1] | 0x20) == 'g' && (seg[2] | 0x20) == 'i' &&
        (seg[3] | 0x20) == 't') {  // a hostile listing's .git/config or .GIT/hooks/...
      return Status::InvalidArgument("file path " + Quote(path) + " has a '.git' component");
    }
    if (seg.size() > 255) return Status::InvalidArgument("file path has a segment over 255 bytes");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return Status::OK();
}

Result<ModelRef> ParseModelRef(std::string_view text, std::string_view default_version) {
  ModelRef ref;
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    ref.name = std::string(text);
    ref.version = std::string(default_version);
  } else {
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return Status::InvalidArgument("model reference " + Quote(text) + " has more than one ':'");
    }
    ref.name = std::string(text.substr(0, colon));
    ref.version = std::string(text.substr(colon + 1));
  }
  if (Status s = ValidateModelName(ref.name); !s.ok()) return s;
  if (Status s = ValidateVersion(ref.version); !s.ok()) return s;
  return ref;
}

namespace {

// modeld's UUID namespace (a random version 4 UUID, fixed forever: ids derive from it).
constexpr unsigned char kModeldNamespace[16] = {0x6f, 0x1d, 0x3c, 0x8e, 0x5a, 0x0b, 0x4c, 0x2e,
                                                0x9d, 0x7f, 0x2b, 0x8a, 0x4e, 0x6c, 0x1f, 0x30};

}  // namespace

std::string ModelUuid(const ModelRef& ref) {
  std::string input(reinterpret_cast<const char*>(kModeldNamespace), sizeof kModeldNamespace);
  input += ref.ToString();
  const std::string hex = HashHex(HashAlgorithm::kSha1, input);  // 40 hex digits
  unsigned char b[16];
  for (int i = 0; i < 16; ++i)
    b[i] =
        static_cast<unsigned char>(HexDigitValue(hex[2 * i]) * 16 + HexDigitValue(hex[2 * i + 1]));
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x50);  // version 5
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // the RFC variant
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

bool IsUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : HexDigitValue(text[i]) < 0) return false;
  }
  return true;
}

}  // namespace modeld
