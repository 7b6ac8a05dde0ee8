// Pieces' POST /models/create body (a SeededModel) and the Model a custom model is then
// shown as: api::pieces::ParseSeededModel, then ModelJson of that custom model with the
// body kept as its fields (what POST /model/update stores too).
//
// Invariants: a refused body is InvalidArgument, never an exception; an accepted one has a
// valid model name and version made from its name and version, and its fields are the
// body (an object); the Model shown for it carries every field the clients require (id
// ModelUuid(ref), version, created, name, cloud, type, usage) with the right JSON types,
// serialises, and never lets the client's fields replace its id, unique or state.
#include <nlohmann/json.hpp>

#include "api/pieces/wire.h"
#include "core/names.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  using nlohmann::json;
  std::string_view body = fuzz::AsText(data, size);
  auto seeded = api::pieces::ParseSeededModel(body);
  if (!seeded.has_value()) {
    FUZZ_CHECK(seeded.error().code() == Status::Code::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(ValidateModelName(seeded->ref.name).ok());
  FUZZ_CHECK(ValidateVersion(seeded->ref.version).ok());
  FUZZ_CHECK(seeded->fields.is_object());
  api::pieces::Entry e;
  e.ref = seeded->ref;
  service::RegisteredModel r;
  r.ref = seeded->ref;
  r.custom = true;
  r.target = seeded->target;
  r.fields = seeded->fields;
  e.registered = r;
  json m = api::pieces::ModelJson(e);
  FUZZ_CHECK(m["id"] == ModelUuid(seeded->ref));
  FUZZ_CHECK(m["unique"] == seeded->ref.ToString());
  FUZZ_CHECK(m["version"] == seeded->ref.version);
  FUZZ_CHECK(m["name"].is_string() && m["type"].is_string() && m["usage"].is_string());
  FUZZ_CHECK(m["cloud"] == false && m["downloaded"] == false && m["custom"] == true);
  FUZZ_CHECK(m["created"]["value"].is_string());
  std::string text = m.dump();  // serialisable: no invalid UTF-8 kept from the body
  FUZZ_CHECK(json::parse(text, nullptr, false) == m);
  return 0;
}
