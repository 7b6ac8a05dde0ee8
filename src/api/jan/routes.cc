#include "api/jan/routes.h"

#include "api/jan/wire.h"

namespace modeld::api::jan {

Dialect JanDialect(Context& ctx) {
  Dialect d;
  d.name = "jan";
  d.compat_port = 1337;
  d.prefixes = {"", "/v1"};
  (void)ctx;
  return d;
}

}  // namespace modeld::api::jan
