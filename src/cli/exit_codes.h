// Process exit codes of the modeld CLI: one stable number per Status::Code (docs/cli.md).
#pragma once

#include "core/status.h"

namespace modeld::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitInternal = 1,       // a bug or an unexpected error
  kExitUsage = 2,          // bad command line or invalid argument
  kExitNetwork = 3,        // network failure after retries, 5xx, rate limited, timeout
  kExitNotFound = 4,       // 404/410 upstream, or no such file
  kExitChecksum = 5,       // checksum or size mismatch, upstream file kept changing
  kExitNoSpace = 6,        // insufficient storage
  kExitPermission = 7,     // 401/403, TLS verification failed, file permissions
  kExitIo = 8,             // local disk error
  kExitBusy = 9,           // busy or not ready: the same file downloading; load refused
  kExitExists = 10,        // the model is already installed (use --force)
  kExitInterrupted = 130,  // SIGINT/SIGTERM; the partial download is kept for resume
};

int ExitCodeFor(const Status& status);

}  // namespace modeld::cli
