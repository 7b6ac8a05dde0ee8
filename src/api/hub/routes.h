// The `hub` dialect: the store served as a Hugging Face Hub endpoint (a pull-through
// mirror: service/hub_mirror.h, docs/mirror.md), so that HF_ENDPOINT=http://modeld:8000
// makes huggingface_hub, transformers, huggingface.js and llama.cpp fetch through modeld:
//   GET  /api/{models,datasets}/{org}/{name}[/revision/{rev}]    description, siblings
//   GET  /api/{models,datasets}/{org}/{name}/tree/{rev}[/{path}]  listing, paginated
//   POST /api/{models,datasets}/{org}/{name}/paths-info/{rev}     entries of named paths
//   GET|HEAD /[datasets/]{org}/{name}/resolve/{rev}/{path}         the file (sendfile)
// Nothing of Xet: no X-Xet-* header, no xetHash, no token route.
//
// Thread safety: the handlers run on the server's threads; Context outlives the server.
#pragma once

#include "api/dialect.h"
#include "service/hub_mirror.h"

namespace modeld::api::hub {

struct Context {
  service::HubMirror& mirror;
  size_t page_size = 1000;  // tree entries per page
};

// The routes as a Dialect: {"error"} bodies with X-Error-Code.
Dialect HubDialect(Context& ctx);

}  // namespace modeld::api::hub
