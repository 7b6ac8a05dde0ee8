// UTF-8 for strings read from model files, which JSON (the registry, every API) must
// carry: a check, and the lossy decoding browsers and Node's TextDecoder apply (the
// WHATWG Encoding Standard's UTF-8 decoder), so modeld shows the same text for a broken
// string as @huggingface/gguf and a web page do.
//
// Thread safety: stateless functions.
#pragma once

#include <string>
#include <string_view>

namespace modeld::formats {

// Well-formed UTF-8 (no overlong forms, surrogates, or code points past U+10FFFF).
bool IsValidUtf8(std::string_view s);

// |s| with each ill-formed subsequence replaced by U+FFFD, as the WHATWG decoder does
// (a maximal subpart per replacement). Valid input comes back unchanged.
std::string ToValidUtf8(std::string_view s);

}  // namespace modeld::formats
