#include "api/lmstudio/routes.h"

#include "api/lmstudio/wire.h"

namespace modeld::api::lmstudio {

Dialect LmStudioDialect(Context& ctx) {
  Dialect d;
  d.name = "lmstudio";
  d.compat_port = 1234;
  (void)ctx;
  return d;
}

}  // namespace modeld::api::lmstudio
