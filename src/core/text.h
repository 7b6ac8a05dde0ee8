// Small ASCII text helpers the parsers share (HTTP headers, names, catalogs). Byte-wise:
// only ASCII letters change case.
//
// Thread safety: stateless.
#pragma once

#include <string>
#include <string_view>

namespace modeld {

// |s| without leading and trailing spaces and tabs (HTTP's optional whitespace).
std::string_view TrimSpaceTab(std::string_view s);
// |s| with ASCII letters lower-cased.
std::string AsciiLower(std::string_view s);
// Whether |a| and |b| are equal when ASCII letters are compared without case.
bool EqualsIgnoringCase(std::string_view a, std::string_view b);
// The value of hex digit |c| (either case), or -1.
int HexDigitValue(char c);
// Whether |a| == |b|, in a time that depends on their lengths only (tokens: a secret's
// bytes must not show in how long a refusal takes).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace modeld
