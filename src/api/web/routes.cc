#include "api/web/routes.h"

#include "api/web/assets.h"

namespace modeld::api::web {

namespace {

// Only modeld's own origin: the page's script and style are files (no inline code), it
// talks to the API and the WebSocket of the origin it came from, and no page may frame it.
constexpr char kPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

const EmbeddedAsset* Find(std::string_view path) {
  for (const auto& a : EmbeddedAssets()) {
    if (a.path == path) return &a;
  }
  return nullptr;
}

Response AssetResponse(const Request& req, const EmbeddedAsset& asset) {
  std::string etag = "\"" + std::string(asset.sha256.substr(0, 32)) + "\"";
  bool fresh = false;
  if (auto it = req.find(http::field::if_none_match); it != req.end()) {
    std::string_view want = it->value();
    fresh = want == "*" || want.find(etag) != std::string_view::npos;
  }
  Response res{fresh ? http::status::not_modified : http::status::ok, 11};
  res.set(http::field::content_type, ContentTypeFor(asset.path));
  res.set(http::field::etag, etag);
  // Revalidated on each load: a new binary's page is never mixed with an old script.
  res.set(http::field::cache_control, "no-cache");
  res.set("Content-Security-Policy", kPolicy);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("X-Frame-Options", "DENY");
  res.set("Referrer-Policy", "no-referrer");
  if (!fresh) res.body().assign(asset.bytes.data(), asset.bytes.size());
  res.prepare_payload();
  return res;
}

void Serve(const Request& req, std::string_view path, const Responder& respond) {
  const EmbeddedAsset* asset = Find(path);
  if (!asset) {
    return respond(ErrorResponse(http::status::not_found, "Not found: no such dashboard file"));
  }
  respond(AssetResponse(req, *asset));
}

}  // namespace

std::string_view ContentTypeFor(std::string_view path) {
  auto ends = [path](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".json") || ends(".webmanifest")) return "application/manifest+json";
  return "application/octet-stream";
}

Dialect WebDialect() {
  Dialect d;
  d.name = "web";
  d.routes.push_back({http::verb::get, "/", "The web dashboard",
                      [](const Request& req, const Params&, Responder respond) {
                        Serve(req, "index.html", respond);
                      },
                      nullptr, StreamKind::kSse, Lane::kInline, /*public_path=*/true});
  d.routes.push_back({http::verb::get, "/ui/*file",
                      "A file of the web dashboard (its scripts, style sheet and icon)",
                      [](const Request& req, const Params& p, Responder respond) {
                        Serve(req, p.Path("file"), respond);
                      },
                      nullptr, StreamKind::kSse, Lane::kInline, /*public_path=*/true});
  return d;
}

}  // namespace modeld::api::web
