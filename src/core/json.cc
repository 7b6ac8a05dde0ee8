#include "core/json.h"

#include <string>

namespace modeld {

int JsonDepth(std::string_view text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > deepest) {
          deepest = depth;
          if (deepest > limit) return deepest;
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return deepest;
}

// nlohmann's lexer takes a NUL byte for the end of the input, so "{}\0anything" would
// parse as {}. JSON has no place for a raw NUL (strings escape it as \u0000): refuse it.
static bool HasNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what, int max_depth) {
  if (HasNul(text)) {
    return Status::InvalidArgument(std::string(what) + ": invalid JSON: a NUL byte");
  }
  if (JsonDepth(text, max_depth) > max_depth) {
    return Status::InvalidArgument(std::string(what) + ": JSON nested deeper than " +
                                   std::to_string(max_depth) + " levels");
  }
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    // e.what() names the byte offset: "[json.exception.parse_error.101] parse error at
    // line 1, column 7: ...". Keep the part after the bracket.
    std::string msg = e.what();
    if (size_t b = msg.find("] "); b != std::string::npos) msg = msg.substr(b + 2);
    return Status::InvalidArgument(std::string(what) + ": invalid JSON: " + msg);
  } catch (const std::exception& e) {  // bad_alloc on absurd input
    return Status::InvalidArgument(std::string(what) + ": cannot parse JSON: " + e.what());
  }
}

nlohmann::json ParseJsonOrDiscarded(std::string_view text, int max_depth) {
  if (HasNul(text) || JsonDepth(text, max_depth) > max_depth) {
    return nlohmann::json(nlohmann::json::value_t::discarded);
  }
  return nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

std::string DumpJson(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace modeld
