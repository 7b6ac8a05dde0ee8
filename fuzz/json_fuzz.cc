// JSON from outside (request bodies, Hub answers, catalogs, config, journal and job
// records): modeld::ParseJson, ParseJsonOrDiscarded and JsonDepth.
//
// Invariants: the two parsers agree; nothing deeper than kMaxJsonDepth is accepted and
// JsonDepth is at least the document's real depth; the limit is exact (one level less
// refuses it); a parsed document survives dump and parse unchanged, and dump is stable.
#include <nlohmann/json.hpp>

#include "core/json.h"
#include "fuzz_check.h"

namespace {

int Depth(const nlohmann::json& j) {
  if (!j.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : j) deepest = std::max(deepest, Depth(child));
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view text = fuzz::AsText(data, size);
  auto parsed = ParseJson(text, "fuzz input");
  nlohmann::json discarded = ParseJsonOrDiscarded(text);
  FUZZ_CHECK(parsed.has_value() == !discarded.is_discarded());
  if (!parsed.has_value()) {
    FUZZ_CHECK(parsed.error().code() == Status::Code::kInvalidArgument);
    FUZZ_CHECK(parsed.error().message().rfind("fuzz input: ", 0) == 0);
    return 0;
  }
  const nlohmann::json& doc = *parsed;
  FUZZ_CHECK(doc == discarded);
  int depth = Depth(doc);
  FUZZ_CHECK(depth <= kMaxJsonDepth);
  // The text can be deeper than the document: of duplicate keys the last value wins.
  FUZZ_CHECK(JsonDepth(text) >= depth);
  if (depth > 0) FUZZ_CHECK(!ParseJson(text, "fuzz input", depth - 1).has_value());

  std::string dumped = doc.dump();
  auto again = ParseJson(dumped, "dumped");
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(*again == doc);
  FUZZ_CHECK(again->dump() == dumped);
  return 0;
}
