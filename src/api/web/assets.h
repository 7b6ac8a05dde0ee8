// The dashboard's files (src/api/web/assets/), compiled into the binary by
// cmake/embed_files.cmake: modeld serves its web page with nothing beside the binary and
// nothing from a CDN.
//
// Thread safety: immutable data, built on first use (a function-local static).
#pragma once

#include <string_view>
#include <vector>

namespace modeld::api::web {

struct EmbeddedAsset {
  std::string_view path;    // under assets/: "index.html", "app.js"
  std::string_view bytes;   // the file as it was at build time
  std::string_view sha256;  // of |bytes|, hex: the ETag
};

// Every asset, in the order CMake listed them. Static storage: the views never dangle.
const std::vector<EmbeddedAsset>& EmbeddedAssets();

}  // namespace modeld::api::web
