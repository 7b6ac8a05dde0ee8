// The web dashboard (docs/dashboard.md): GET / is the page, GET /ui/FILE its script, style
// sheet and icon, all compiled into the binary (assets.h). The page is a client of the
// generic API (/model-download, /ws, /models, /cache, /catalog, /gc) and speaks nothing
// else: it holds no state the server does not.
//
// The files are public (a token-protected server's page must load to ask for the token)
// and contain no data; every answer carries a Content-Security-Policy that allows only
// modeld's own origin (no inline script, no third-party host, no framing), nosniff and
// no-referrer. Host checks apply as to every route, so a rebinding name gets a 403.
//
// Thread safety: the dialect is immutable; handlers run inline on I/O threads.
#pragma once

#include "api/dialect.h"

namespace modeld::api::web {

// The "web" dialect: served on listeners that speak every dialect (the default) or name
// "web" (`--listen 127.0.0.1:8000=generic,web`); no compat port.
Dialect WebDialect();

// The content type of an asset by its extension ("application/octet-stream" if unknown).
std::string_view ContentTypeFor(std::string_view path);

}  // namespace modeld::api::web
