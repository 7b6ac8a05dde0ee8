// Download journals (<file>.part.journal, read back on every resume):
// engine::Journal::Decode, which Journal::Load uses on the file's bytes.
//
// Invariants: only a wrong magic is an error (Corrupt), never a bad record; every
// written range has begin <= end; a decoded state encodes and decodes to itself; and
// cutting the file anywhere after the magic never makes it an error.
#include <string>

#include "engine/journal.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using engine::Journal;
  std::string_view bytes = fuzz::AsText(data, size);
  auto state = Journal::Decode(bytes, "fuzz");
  if (!state.has_value()) {
    FUZZ_CHECK(state.error().code() == Status::Code::kCorrupt);
    FUZZ_CHECK(bytes.size() < 8 || bytes.substr(0, 8) != std::string_view("MDJRNL1\n", 8));
    return 0;
  }
  if (bytes.size() > 8) {
    auto cut = Journal::Decode(bytes.substr(0, 8 + (bytes.size() - 8) / 2), "fuzz");
    FUZZ_CHECK(cut.has_value());
  }
  if (!state->has_value()) return 0;
  const engine::JournalState& s = **state;
  for (const auto& r : s.written) FUZZ_CHECK(r.begin <= r.end);
  auto again = Journal::Decode(Journal::Encode(s), "encoded");
  FUZZ_CHECK(again.has_value() && again->has_value());
  FUZZ_CHECK(**again == s);
  return 0;
}
