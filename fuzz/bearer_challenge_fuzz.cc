// WWW-Authenticate challenges from registries (net::ParseBearerChallenge, issue 15).
//
// Invariants: nothing throws; an accepted challenge has a realm; the parse is a function of
// the bytes (the same input gives the same fields).
#include "fuzz_check.h"
#include "net/http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  std::string_view text = fuzz::AsText(data, size);
  auto c = net::ParseBearerChallenge(text);
  if (!c) return 0;
  FUZZ_CHECK(!c->realm.empty());
  FUZZ_CHECK(c->realm.size() <= text.size());
  auto again = net::ParseBearerChallenge(text);
  FUZZ_CHECK(again && again->realm == c->realm && again->service == c->service &&
             again->scope == c->scope);
  return 0;
}
