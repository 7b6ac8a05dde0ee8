// Status and Result<T>: the error values every module boundary returns.
//
// A Status is a stable Code plus a human-readable message, and optionally an Info: the
// failure's typed detail (a reason and named values, core/error_reasons.h) for a front end
// that words errors its own way. An OK Status carries no allocation. Result<T> holds either a value
// or a non-OK Status and uses the std::expected spelling (has_value / value / error), so moving to
// C++23 is a rename.
//
// Thread safety: values; safe to copy between threads, not to mutate concurrently.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace modeld {

class [[nodiscard]] Status {
 public:
  // Stable: api/ maps these to HTTP codes, cli/ to exit codes. Append only.
  enum class Code {
    kOk = 0,
    kInvalidArgument,     // the caller's input is wrong (bad URL, bad checksum, bad name)
    kNotFound,            // the thing asked for does not exist upstream or locally
    kAlreadyExists,       // a conflicting object exists
    kUnavailable,         // transient: network, 5xx, rate limit; retrying may help
    kIoError,             // local disk or OS failure
    kCorrupt,             // data does not match what it should be (checksum, journal)
    kCancelled,           // stopped on request
    kPermissionDenied,    // 401/403, gated repository, missing token
    kInternal,            // a bug
    kNoSpace,             // not enough disk space
    kFailedPrecondition,  // the state does not allow it (busy, locked by another process)
  };

  // The typed detail of a failure, in the shape of google.rpc.ErrorInfo: a reason in
  // UPPER_SNAKE_CASE and named values, so the CLI can say "not found (HTTP 404): URL" or
  // "use --force" while an HTTP dialect keeps its own words (the message). The reasons and
  // their keys are listed in core/error_reasons.h.
  struct Info {
    std::string reason;
    std::map<std::string, std::string> fields;
    // The value of |key|, or "" when absent.
    std::string Get(const std::string& key) const;
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string_view msg) { return {Code::kInvalidArgument, msg}; }
  static Status NotFound(std::string_view msg) { return {Code::kNotFound, msg}; }
  static Status AlreadyExists(std::string_view msg) { return {Code::kAlreadyExists, msg}; }
  static Status Unavailable(std::string_view msg) { return {Code::kUnavailable, msg}; }
  static Status IoError(std::string_view msg) { return {Code::kIoError, msg}; }
  static Status Corrupt(std::string_view msg) { return {Code::kCorrupt, msg}; }
  static Status Cancelled(std::string_view msg) { return {Code::kCancelled, msg}; }
  static Status PermissionDenied(std::string_view msg) { return {Code::kPermissionDenied, msg}; }
  static Status Internal(std::string_view msg) { return {Code::kInternal, msg}; }
  static Status NoSpace(std::string_view msg) { return {Code::kNoSpace, msg}; }
  static Status FailedPrecondition(std::string_view msg) {
    return {Code::kFailedPrecondition, msg};
  }
  // A Status of |code| (OK when kOk) with |msg|: for passing a failure on with its
  // message rewritten (redacted, translated).
  static Status FromCode(Code code, std::string_view msg) {
    return code == Code::kOk ? Status() : Status(code, msg);
  }

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  const std::string& message() const;
  // "NotFound: <message>", or "OK".
  std::string ToString() const;
  // Returns a copy whose message is "<context>: <message>" (and the same Info).
  Status WithContext(std::string_view context) const;
  // Returns a copy carrying |info| (an OK Status stays OK, without it).
  Status WithInfo(Info info) const;
  // The typed detail, or nullptr when none was given.
  const Info* info() const { return rep_ && !rep_->info.reason.empty() ? &rep_->info : nullptr; }

  static std::string_view CodeName(Code code);
  // The Code whose CodeName is |name|; nullopt for any other string.
  static std::optional<Code> CodeFromName(std::string_view name);

 private:
  struct Rep {
    Code code;
    std::string message;
    Info info;
  };
  Status(Code code, std::string_view msg)
      : rep_(std::make_shared<const Rep>(Rep{code, std::string(msg), {}})) {}
  std::shared_ptr<const Rep> rep_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: REQUIRES: !status.ok()

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  const Status& error() const { return std::get<1>(v_); }
  Status status() const { return has_value() ? Status::OK() : error(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace modeld
