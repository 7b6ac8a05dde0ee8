#include "core/status.h"

namespace modeld {

const std::string& Status::message() const {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kInvalidArgument:
      return "InvalidArgument";
    case Code::kNotFound:
      return "NotFound";
    case Code::kAlreadyExists:
      return "AlreadyExists";
    case Code::kUnavailable:
      return "Unavailable";
    case Code::kIoError:
      return "IoError";
    case Code::kCorrupt:
      return "Corrupt";
    case Code::kCancelled:
      return "Cancelled";
    case Code::kPermissionDenied:
      return "PermissionDenied";
    case Code::kInternal:
      return "Internal";
    case Code::kNoSpace:
      return "NoSpace";
    case Code::kFailedPrecondition:
      return "FailedPrecondition";
  }
  return "Unknown";
}

std::optional<Status::Code> Status::CodeFromName(std::string_view name) {
  for (Code c :
       {Code::kOk, Code::kInvalidArgument, Code::kNotFound, Code::kAlreadyExists,
        Code::kUnavailable, Code::kIoError, Code::kCorrupt, Code::kCancelled,
        Code::kPermissionDenied, Code::kInternal, Code::kNoSpace, Code::kFailedPrecondition}) {
    if (CodeName(c) == name) return c;
  }
  return std::nullopt;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code())) + ": " + message();
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status out(code(), std::string(context) + ": " + message());
  if (const Info* i = info()) return out.WithInfo(*i);
  return out;
}

Status Status::WithInfo(Info info) const {
  if (ok()) return *this;
  Status out;
  out.rep_ = std::make_shared<const Rep>(Rep{code(), message(), std::move(info)});
  return out;
}

std::string Status::Info::Get(const std::string& key) const {
  auto it = fields.find(key);
  return it == fields.end() ? std::string() : it->second;
}

}  // namespace modeld
