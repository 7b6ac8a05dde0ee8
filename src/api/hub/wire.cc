#include "api/hub/wire.h"

#include <boost/url/params_view.hpp>
#include <boost/url/parse_query.hpp>
#include <charconv>

#include "api/access_policy.h"
#include "api/common/body.h"
#include "core/error_reasons.h"
#include "core/text.h"

namespace modeld::api::hub {

namespace {

std::optional<uint64_t> Number(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// Header values are one line of visible ASCII.
std::string HeaderSafe(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 500)) {
    unsigned char u = static_cast<unsigned char>(c);
    out += u >= 0x20 && u < 0x7f ? c : ' ';
  }
  return out;
}

}  // namespace

RangeRequest ParseRange(std::string_view header, uint64_t size) {
  RangeRequest r;
  std::string_view h = TrimSpaceTab(header);
  if (h.size() < 6 || !EqualsIgnoringCase(h.substr(0, 6), "bytes=")) return r;
  std::string_view spec = TrimSpaceTab(h.substr(6));
  if (spec.find(',') != std::string_view::npos) return r;  // several ranges: the whole file
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return r;
  std::string_view a = TrimSpaceTab(spec.substr(0, dash)), b = TrimSpaceTab(spec.substr(dash + 1));
  if (a.empty()) {  // the last N bytes
    auto n = Number(b);
    if (!n) return r;
    if (*n == 0 || size == 0) {
      r.kind = RangeRequest::kUnsatisfiable;
      return r;
    }
    r.kind = RangeRequest::kPartial;
    r.first = *n >= size ? 0 : size - *n;
    r.last = size - 1;
    return r;
  }
  auto first = Number(a);
  if (!first) return r;
  std::optional<uint64_t> last;
  if (!b.empty()) {
    last = Number(b);
    if (!last || *last < *first) return r;
  }
  if (*first >= size) {
    r.kind = RangeRequest::kUnsatisfiable;
    return r;
  }
  r.kind = RangeRequest::kPartial;
  r.first = *first;
  r.last = last ? std::min(*last, size - 1) : size - 1;
  return r;
}

bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  std::string_view rest = if_none_match;
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view item = TrimSpaceTab(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (item == "*") return true;
    if (item.size() >= 2 && (item[0] == 'W' || item[0] == 'w') && item[1] == '/')
      item.remove_prefix(2);
    if (item.size() >= 2 && item.front() == '"' && item.back() == '"')
      item = item.substr(1, item.size() - 2);
    if (!item.empty() && item == etag) return true;
  }
  return false;
}

namespace {

constexpr size_t kMaxPaths = 10000;

// The form: every "paths" a path, "expand" a Python bool as requests writes it (True,
// False) or true/false/1/0; other fields ignored, as the Hub does.
Result<PathsInfoRequest> ParsePathsInfoForm(std::string_view form) {
  // Boost 1.81's parse_query reads the text with strlen (past the end of a buffer that is
  // not NUL-terminated: ASan, the hub_mirror fuzz target), so it gets a copy, and a NUL,
  // never valid in a form, is refused first.
  if (form.find('\0') != std::string_view::npos)
    return Status::InvalidArgument("Malformed form body: a NUL byte");
  const std::string body(form);
  auto query = boost::urls::parse_query(body);
  if (!query) return Status::InvalidArgument("Malformed form body: " + query.error().message());
  PathsInfoRequest req;
  bool has_paths = false;
  // Valid (parse_query), so this cannot throw. (Boost 1.81's params_view(params_view,
  // encoding_opts) is declared but missing from libboost_url.)
  boost::urls::params_view params(body, boost::urls::encoding_opts(/*space_as_plus=*/true));
  for (const auto& p : params) {
    if (p.key == "paths") {
      if (req.paths.size() == kMaxPaths)
        return Status::InvalidArgument("Invalid parameter 'paths': at most 10000 paths");
      has_paths = true;
      req.paths.push_back(p.value);
    } else if (p.key == "expand") {
      if (p.value == "True" || p.value == "true" || p.value == "1") {
        req.expand = true;
      } else if (p.value == "False" || p.value == "false" || p.value == "0") {
        req.expand = false;
      } else {
        return Status::InvalidArgument("Invalid parameter 'expand': expected true or false");
      }
    }
  }
  if (!has_paths) return Status::InvalidArgument("Invalid parameter 'paths': required");
  return req;
}

}  // namespace

Result<PathsInfoRequest> ParsePathsInfo(std::string_view body, std::string_view content_type) {
  if (AccessPolicy::IsFormContentType(content_type)) return ParsePathsInfoForm(body);
  auto reader = BodyReader::Parse(body);
  if (!reader.has_value()) return reader.error();
  PathsInfoRequest req;
  reader->StrList("paths", &req.paths, "a path");
  reader->Bool("expand", &req.expand);
  if (!reader->ok()) return reader->error();
  if (!reader->Has("paths")) return Status::InvalidArgument("Invalid parameter 'paths': required");
  if (req.paths.size() > kMaxPaths)
    return Status::InvalidArgument("Invalid parameter 'paths': at most 10000 paths");
  return req;
}

Response ErrorBody(http::status status, const std::string& message) {
  Response res =
      JsonResponse(status, nlohmann::json{{"error", message}}.dump(
                               -1, ' ', false, nlohmann::json::error_handler_t::replace));
  res.set("X-Error-Message", HeaderSafe(message));
  return res;
}

Response ErrorFor(const Status& s) {
  int status = 500;
  std::string code;
  const Status::Info* info = s.info();
  if (info && info->reason == reason::kHubUpstream) {
    auto n = Number(info->Get("status"));
    status = n && *n >= 400 && *n <= 599 ? static_cast<int>(*n) : 502;
    code = info->Get("code");
  } else {
    switch (s.code()) {
      case Status::Code::kNotFound:
        status = 404;
        break;
      case Status::Code::kPermissionDenied:
        status = 403;
        break;
      case Status::Code::kInvalidArgument:
        status = 400;
        break;
      case Status::Code::kUnavailable:
        // A gateway whose upstream did not answer in time says so (504), as the Hub's
        // own front does; one that could not reach it, or was refused, 502.
        status = info && info->reason == reason::kUpstreamTimeout ? 504 : 502;
        break;
      case Status::Code::kNoSpace:
        status = 507;
        break;
      default:
        status = 500;
    }
  }
  // A 5xx from the upstream that reached a client means it could not be served at all.
  Response res = ErrorBody(static_cast<http::status>(status), s.message());
  if (!code.empty()) res.set("X-Error-Code", HeaderSafe(code));
  return res;
}

nlohmann::json EntryJson(const service::MirrorEntry& e) {
  nlohmann::json j = {{"type", e.directory ? "directory" : "file"},
                      {"oid", e.oid},
                      {"size", e.size},
                      {"path", e.path}};
  if (e.lfs())
    j["lfs"] = {{"oid", e.lfs_oid}, {"size", e.size}, {"pointerSize", e.lfs_pointer_size}};
  return j;
}

nlohmann::json RepoJson(const service::MirrorRepo& repo, bool blobs) {
  nlohmann::json j = repo.info.is_object() ? repo.info : nlohmann::json::object();
  j["id"] = repo.repo_id;
  if (!j.contains("modelId") && repo.kind == service::HubKind::kModel) j["modelId"] = repo.repo_id;
  j["sha"] = repo.commit;
  nlohmann::json siblings = nlohmann::json::array();
  for (const auto& e : repo.entries) {
    if (e.directory) continue;
    nlohmann::json s = {{"rfilename", e.path}};
    if (blobs) {
      s["size"] = e.size;
      s["blobId"] = e.oid;
      if (e.lfs())
        s["lfs"] = {{"sha256", e.lfs_oid}, {"size", e.size}, {"pointerSize", e.lfs_pointer_size}};
    }
    siblings.push_back(std::move(s));
  }
  j["siblings"] = std::move(siblings);
  return j;
}

std::optional<std::vector<const service::MirrorEntry*>> TreeEntries(const service::MirrorRepo& repo,
                                                                    const std::string& dir,
                                                                    bool recursive) {
  if (!dir.empty()) {
    const service::MirrorEntry* d = repo.Find(dir);
    if (!d || !d->directory) return std::nullopt;
  }
  std::string prefix = dir.empty() ? "" : dir + "/";
  std::vector<const service::MirrorEntry*> out;
  for (const auto& e : repo.entries) {
    if (e.path.compare(0, prefix.size(), prefix) != 0 || e.path.size() == prefix.size()) continue;
    if (!recursive && e.path.find('/', prefix.size()) != std::string::npos) continue;
    out.push_back(&e);
  }
  return out;
}

}  // namespace modeld::api::hub
