#include "cli/exit_codes.h"

namespace modeld::cli {

int ExitCodeFor(const Status& status) {
  using Code = Status::Code;
  switch (status.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kInvalidArgument:
      return kExitUsage;
    case Code::kNotFound:
      return kExitNotFound;
    case Code::kAlreadyExists:
      return kExitExists;
    case Code::kUnavailable:
      return kExitNetwork;
    case Code::kIoError:
      return kExitIo;
    case Code::kCorrupt:
      return kExitChecksum;
    case Code::kCancelled:
      return kExitInterrupted;
    case Code::kPermissionDenied:
      return kExitPermission;
    case Code::kInternal:
      return kExitInternal;
    case Code::kNoSpace:
      return kExitNoSpace;
    case Code::kFailedPrecondition:
      return kExitBusy;
  }
  return kExitInternal;
}

}  // namespace modeld::cli
