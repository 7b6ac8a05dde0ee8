// The reasons a Status::Info may carry, and the keys of each: the typed detail a front end
// words in its own terms (the CLI: cli/errors.h). One list, so the module that sets a reason
// and the one that reads it agree. Values are strings; sizes are decimal byte counts.
//
// Thread safety: constants.
#pragma once

namespace modeld::reason {

// The model version is installed and intact (AlreadyExists).
//   model: "name:version"; path: its directory.
inline constexpr char kAlreadyInstalled[] = "ALREADY_INSTALLED";

// No catalog (nor the Hub, for org/name) knows the model name (NotFound).
//   name: the name asked for.
inline constexpr char kUnknownModel[] = "UNKNOWN_MODEL";

// An upstream answered an HTTP error status for a URL (NotFound for 404 and 410).
//   url: the URL asked for (before any redirect); status: the HTTP status, e.g. "404".
inline constexpr char kHttpStatus[] = "HTTP_STATUS";

// Not enough free space where the bytes were to go (NoSpace).
//   path: a file or directory on that file system; required: the bytes needed;
//   available: the bytes free.
inline constexpr char kNoSpace[] = "NO_SPACE";

// A Hugging Face repository refused access: gated (its licence not accepted by the token's
// account) or private (PermissionDenied).
//   repo: "org/name"; page: its page on the Hub; gated: "1" or "0"; token: "1" when a token
//   (HF_TOKEN) was sent.
inline constexpr char kHubAccess[] = "HUB_ACCESS";

}  // namespace modeld::reason
