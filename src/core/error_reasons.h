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

// The Hub (a mirror's upstream) answered with an error (Hub mirror: passed on to clients
// as the Hub gives it).
//   status: the HTTP status; code: its X-Error-Code ("RepoNotFound", "RevisionNotFound",
//   "EntryNotFound", "GatedRepo", may be ""); message: its X-Error-Message.
inline constexpr char kHubUpstream[] = "HUB_UPSTREAM";

// An upstream did not answer in time: libcurl's time-out ran out connecting or waiting for
// the response (Unavailable). A gateway answers it 504 (the Hub mirror), not 502.
//   (no keys: the message names the URL)
inline constexpr char kUpstreamTimeout[] = "UPSTREAM_TIMEOUT";

// A file of a model to load is missing (NotFound).
//   model: "name:version"; path: the file.
inline constexpr char kModelFileMissing[] = "MODEL_FILE_MISSING";

// A file of a model to load is not the size the store recorded: changed or truncated
// (Corrupt).
//   model: "name:version"; path: the file; expected, actual: its sizes.
inline constexpr char kModelFileSize[] = "MODEL_FILE_SIZE";

// A model is larger than the whole memory budget for loaded models, so no eviction could
// make room (FailedPrecondition).
//   model: "name:version"; required: its bytes; available: the budget (max_loaded_bytes).
inline constexpr char kModelTooLarge[] = "MODEL_TOO_LARGE";

// The memory budget is held by other loads still in progress, which cannot be evicted
// (Unavailable: retrying once they finish may succeed).
//   model: "name:version"; required: its bytes; available: the budget left to it.
inline constexpr char kLoadBudgetBusy[] = "LOAD_BUDGET_BUSY";

// mlock was asked for and RLIMIT_MEMLOCK forbids locking the model (FailedPrecondition).
//   model: "name:version"; required: its bytes; limit: RLIMIT_MEMLOCK's soft limit in
//   bytes. Raised with `ulimit -l` in the shell that starts modeld, or LimitMEMLOCK= in
//   its systemd unit.
inline constexpr char kMemlockLimit[] = "MEMLOCK_LIMIT";

// A model to load is not installed (NotFound).
//   model: "name:version".
inline constexpr char kModelNotInstalled[] = "MODEL_NOT_INSTALLED";

// A model to load is being downloaded: a job of this server (queued, running or paused) or
// another process's pull holds it (FailedPrecondition: load it once the download ends).
//   model: "name:version"; pid: the pulling process, when another one and known.
inline constexpr char kModelDownloading[] = "MODEL_DOWNLOADING";

// A model to load is broken: the store's check of its files (one stat each) found one
// missing, of another size, or changed since it was verified (FailedPrecondition).
//   model: "name:version"; path: the file; problem: what is wrong with it; repair: the
//   command that repairs it.
inline constexpr char kModelBroken[] = "MODEL_BROKEN";

// An upstream's TLS certificate was refused, or the CA bundle in force cannot be used
// (PermissionDenied; net/tls_trust.h words the message with the fix).
//   host: "host:port" of the hop that failed; problem: what is wrong (OpenSSL's words, e.g.
//   "self-signed certificate in certificate chain"); ca_bundle: the bundle in force ("" for
//   the system's store); ca_bundle_source: where it came from ("--ca-bundle",
//   "SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE"; "" for the system's store).
inline constexpr char kTlsCertificate[] = "TLS_CERTIFICATE";

}  // namespace modeld::reason
