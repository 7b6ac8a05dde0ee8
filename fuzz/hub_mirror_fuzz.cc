// What the Hub mirror reads from outside (api/hub/wire.h, sources/hub_upstream.h); the
// first byte picks one:
//   0: a Range header against a file size (the next 8 bytes) -> ParseRange
//   1: an If-None-Match header -> EtagMatches
//   2: POST .../paths-info's body -> ParsePathsInfo, as JSON and as a form
//   3: one page of the upstream's tree listing -> ParseHubEntries, HubEntryJson
//
// Invariants: a partial range lies inside the file (first <= last < size) and, written
// back as "bytes=first-last", parses to itself; an unsatisfiable one starts past the end
// or asks for no byte; "*" and a quoted etag match, an empty etag never does; a refused
// body is InvalidArgument and an accepted one has at most 10,000 paths (a form's paths,
// percent-encoded again, parse to the same request); a refused listing
// is Corrupt, accepted entries have paths ValidateRelativePath accepts, LFS digests of 64
// lower-case hex digits, no size for a directory, and read back from their JSON they are
// the same entries.
#include <cstring>
#include <string>

#include "api/hub/wire.h"
#include "core/names.h"
#include "fuzz_check.h"
#include "sources/hub_upstream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace modeld;
  if (size < 1) return 0;
  uint8_t pick = data[0] % 4;
  std::string_view text = fuzz::AsText(data + 1, size - 1);
  switch (pick) {
    case 0: {
      if (text.size() < 8) return 0;
      uint64_t file_size = 0;
      std::memcpy(&file_size, text.data(), 8);
      file_size %= (uint64_t{1} << 50);
      std::string_view header = text.substr(8);
      auto r = api::hub::ParseRange(header, file_size);
      if (r.kind == api::hub::RangeRequest::kPartial) {
        FUZZ_CHECK(r.first <= r.last && r.last < file_size);
        auto again = api::hub::ParseRange(
            "bytes=" + std::to_string(r.first) + "-" + std::to_string(r.last), file_size);
        FUZZ_CHECK(again.kind == api::hub::RangeRequest::kPartial && again.first == r.first &&
                   again.last == r.last);
      }
      break;
    }
    case 1: {
      FUZZ_CHECK(!api::hub::EtagMatches(text, "") || text.find('*') != std::string_view::npos);
      std::string etag(text.substr(0, 64));
      if (etag.find_first_of("\",* \t") == std::string::npos && !etag.empty()) {
        FUZZ_CHECK(api::hub::EtagMatches("\"" + etag + "\"", etag));
        FUZZ_CHECK(api::hub::EtagMatches("W/\"" + etag + "\", \"x\"", etag));
      }
      FUZZ_CHECK(api::hub::EtagMatches("*", std::string(text)) || text.empty());
      break;
    }
    case 2: {
      auto req = api::hub::ParsePathsInfo(text);
      if (!req.has_value()) {
        FUZZ_CHECK(req.error().code() == Status::Code::kInvalidArgument);
      } else {
        FUZZ_CHECK(req->paths.size() <= 10000);
      }
      constexpr std::string_view kForm = "application/x-www-form-urlencoded";
      auto form = api::hub::ParsePathsInfo(text, kForm);
      if (!form.has_value()) {
        FUZZ_CHECK(form.error().code() == Status::Code::kInvalidArgument);
        break;
      }
      FUZZ_CHECK(form->paths.size() <= 10000);
      std::string again = form->expand ? "expand=True" : "expand=False";
      for (const auto& path : form->paths) again += "&paths=" + fuzz::PercentEncode(path);
      auto reread = api::hub::ParsePathsInfo(again, kForm);
      FUZZ_CHECK(reread.has_value() && reread->paths == form->paths &&
                 reread->expand == form->expand);
      break;
    }
    case 3: {
      auto entries = sources::ParseHubEntries(text, "org/repo");
      if (!entries.has_value()) {
        FUZZ_CHECK(entries.error().code() == Status::Code::kCorrupt);
        return 0;
      }
      nlohmann::json page = nlohmann::json::array();
      for (const auto& e : *entries) {
        FUZZ_CHECK(ValidateRelativePath(e.path).ok());
        if (e.lfs()) FUZZ_CHECK(e.lfs_oid.size() == 64 && !e.directory);
        if (e.directory) FUZZ_CHECK(e.size == 0);
        FUZZ_CHECK(e.oid.size() == 40 || e.oid.size() == 64);
        page.push_back(sources::HubEntryJson(e));
      }
      auto again = sources::ParseHubEntries(
          page.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "org/repo");
      FUZZ_CHECK(again.has_value() && again->size() == entries->size());
      for (size_t i = 0; i < entries->size(); ++i) {
        const auto &a = (*entries)[i], &b = (*again)[i];
        FUZZ_CHECK(a.path == b.path && a.size == b.size && a.oid == b.oid &&
                   a.lfs_oid == b.lfs_oid && a.directory == b.directory);
      }
      break;
    }
  }
  return 0;
}
