#include "formats/utf8.h"

#include <cstdint>

namespace modeld::formats {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// The WHATWG UTF-8 decoder over |s|: calls |good(begin, end)| for each well-formed
// sequence and |bad()| for each ill-formed subpart. Returns false as soon as |bad| does.
template <typename Good, typename Bad>
void Decode(std::string_view s, Good good, Bad bad) {
  int needed = 0, seen = 0;
  unsigned lower = 0x80, upper = 0xBF;
  size_t start = 0;
  for (size_t i = 0; i < s.size();) {
    auto b = static_cast<unsigned char>(s[i]);
    if (needed == 0) {
      start = i++;
      if (b <= 0x7F) {
        good(start, i);
      } else if (b >= 0xC2 && b <= 0xDF) {
        needed = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        if (b == 0xE0) lower = 0xA0;
        if (b == 0xED) upper = 0x9F;
        needed = 2;
      } else if (b >= 0xF0 && b <= 0xF4) {
        if (b == 0xF0) lower = 0x90;
        if (b == 0xF4) upper = 0x8F;
        needed = 3;
      } else if (!bad()) {
        return;
      }
      continue;
    }
    if (b < lower || b > upper) {
      // The subpart so far is replaced; this byte starts afresh (it is not consumed).
      needed = seen = 0;
      lower = 0x80;
      upper = 0xBF;
      if (!bad()) return;
      continue;
    }
    lower = 0x80;
    upper = 0xBF;
    ++i;
    if (++seen == needed) {
      good(start, i);
      needed = seen = 0;
    }
  }
  if (needed != 0) bad();
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  bool valid = true;
  Decode(
      s, [](size_t, size_t) {},
      [&] {
        valid = false;
        return false;
      });
  return valid;
}

std::string ToValidUtf8(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  Decode(
      s, [&](size_t begin, size_t end) { out.append(s.substr(begin, end - begin)); },
      [&] {
        out.append(kReplacement);
        return true;
      });
  return out;
}

}  // namespace modeld::formats
