// --listen ADDR[=DIALECT,...] from the command line: api::ParseListenSpec, and
// api::CompatListens, which reads the same specs to pick --compat's ports.
//
// Invariants: a refused spec is InvalidArgument; an accepted one has a non-empty address
// without '=' and dialect names that are non-empty and hold no ','; printed back as
// ADDR=D1,D2 it parses to the same spec; CompatListens never adds a port the specs
// already use, and what it adds parses.
#include <string>
#include <vector>

#include "api/dialect.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string text(fuzz::AsText(data, size));
  auto spec = api::ParseListenSpec(text);
  if (!spec.has_value()) {
    FUZZ_CHECK(spec.error().code() == Status::Code::kInvalidArgument);
  } else {
    FUZZ_CHECK(!spec->address.empty() && spec->address.find('=') == std::string::npos);
    FUZZ_CHECK(spec->dialects.empty() == (text.find('=') == std::string::npos));
    std::string printed = spec->address;
    for (size_t i = 0; i < spec->dialects.size(); ++i) {
      const std::string& d = spec->dialects[i];
      FUZZ_CHECK(!d.empty() && d.find(',') == std::string::npos);
      printed += (i == 0 ? "=" : ",") + d;
    }
    FUZZ_CHECK(printed == text);
    auto again = api::ParseListenSpec(printed);
    FUZZ_CHECK(again.has_value() && again->address == spec->address &&
               again->dialects == spec->dialects);
  }

  // --compat beside this --listen: one listener per dialect port not already taken.
  std::vector<api::Dialect> dialects(3);
  dialects[0].name = "generic";
  dialects[1].name = "ollama";
  dialects[1].compat_port = 11434;
  dialects[2].name = "lmstudio";
  dialects[2].compat_port = 1234;
  std::vector<std::string> listen = {text};
  auto added = api::CompatListens(dialects, listen);
  FUZZ_CHECK(added.size() <= 2);
  for (const auto& a : added) {
    auto s = api::ParseListenSpec(a);
    FUZZ_CHECK(s.has_value() && s->dialects.size() == 1);
    std::string port = s->address.substr(s->address.rfind(':') + 1);
    if (spec.has_value()) {
      FUZZ_CHECK(spec->address.substr(spec->address.rfind(':') + 1) != port ||
                 spec->address.find(':') == std::string::npos);
    }
  }
  return 0;
}
