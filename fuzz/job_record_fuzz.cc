// Job records read back from the registry at start-up (the jobs table's request column,
// which a crash, a disk error or another program may have damaged):
// service::PullRequestFromJson on what the store parses (ParseJsonOrDiscarded, an
// object when unreadable).
//
// Invariants: a damaged record is an error (Corrupt, or InvalidArgument for a bad
// checksum), never an exception or undefined behaviour; an accepted record writes back
// (PullRequestToJson) to a record that reads to the same request.
#include <nlohmann/json.hpp>

#include "core/json.h"
#include "fuzz_check.h"
#include "service/job_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  nlohmann::json record = ParseJsonOrDiscarded(fuzz::AsText(data, size));
  if (record.is_discarded()) record = nlohmann::json::object();  // as store/jobs.cc reads it
  int priority = 0;
  auto request = service::PullRequestFromJson(record, &priority);
  if (!request.has_value()) {
    FUZZ_CHECK(request.error().code() == Status::Code::kCorrupt ||
               request.error().code() == Status::Code::kInvalidArgument);
    return 0;
  }
  if (request->checksum) {
    FUZZ_CHECK(request->checksum->hex.size() == HashHexLength(request->checksum->algorithm));
  }
  nlohmann::json written = service::PullRequestToJson(*request, priority);
  int priority2 = -1;
  auto again = service::PullRequestFromJson(written, &priority2);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(priority2 == priority);
  FUZZ_CHECK(service::PullRequestToJson(*again, priority2) == written);
  return 0;
}
