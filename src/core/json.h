// JSON read from outside the process (request bodies, upstream API answers, catalogs,
// config files, journal and job records) is parsed only through these functions.
//
// nlohmann::json parses without recursion, but copying, dumping and comparing a document
// recurse once per nesting level: a 200 KB body nested 100,000 deep would overflow the
// stack long after parsing. So nesting is bounded before the parser sees the bytes, and
// no exception leaves these functions.
//
// Thread safety: stateless functions, safe from any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/status.h"

namespace modeld {

// Deeper than any real document (serde_json's default); shallow enough that recursive
// operations on a document stay far from the stack limit.
inline constexpr int kMaxJsonDepth = 128;

// The deepest nesting of arrays and objects in |text| (strings and escapes skipped),
// stopping early once it passes |limit|. Does not check that |text| is valid JSON.
int JsonDepth(std::string_view text, int limit = kMaxJsonDepth);

// Parses |text|. InvalidArgument naming |what| ("request body", "catalog x.json") for
// malformed JSON or nesting deeper than |max_depth|.
Result<nlohmann::json> ParseJson(std::string_view text, std::string_view what,
                                 int max_depth = kMaxJsonDepth);

// The same, as nlohmann's parse(text, nullptr, false) reads: a discarded value
// (is_discarded()) for anything ParseJson refuses.
nlohmann::json ParseJsonOrDiscarded(std::string_view text, int max_depth = kMaxJsonDepth);

// |j| as JSON text, never throwing: a string holding bytes that are not UTF-8 (an error
// message quoting a client's body, a name from an upstream) is written with U+FFFD in their
// place, where nlohmann's dump() would throw. Every reply and event a dialect writes goes
// through it. |indent| as dump()'s.
std::string DumpJson(const nlohmann::json& j, int indent = -1);

}  // namespace modeld
