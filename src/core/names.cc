#include "core/names.h"

#include <cctype>

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

}  // namespace modeld
