#include "api/hub/routes.h"

#include <charconv>

#include "api/hub/wire.h"
#include "core/text.h"

namespace modeld::api::hub {

namespace {

using json = nlohmann::json;
using service::HubKind;

Response Json(const json& j) {
  return JsonResponse(http::status::ok, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

std::string ClientToken(const Request& req) {
  std::string_view auth = req[http::field::authorization];
  if (auth.size() > 7 && EqualsIgnoringCase(auth.substr(0, 7), "Bearer ")) {
    return std::string(TrimSpaceTab(auth.substr(7)));
  }
  return "";
}

std::string RepoId(const Params& p) { return p.Path("org") + "/" + p.Path("name"); }

// The repository a request names, at its revision ("main" when it names none).
Result<std::shared_ptr<const service::MirrorRepo>> RepoOf(Context& ctx, HubKind kind,
                                                          const Request& req, const Params& p) {
  std::string rev = p.Path("rev");
  if (rev.empty()) rev = "main";
  return ctx.mirror.Repo(kind, RepoId(p), rev, ClientToken(req));
}

// "http://host" as the client reached us, for links back to modeld.
std::string Base(const Request& req) {
  std::string_view host = req[http::field::host];
  return "http://" + std::string(host.empty() ? "127.0.0.1" : host);
}

std::string Encode(const std::string& s, bool keep_slashes) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slashes && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

void Info(Context& ctx, HubKind kind, const Request& req, const Params& p, Responder respond) {
  auto repo = RepoOf(ctx, kind, req, p);
  if (!repo.has_value()) return respond(ErrorFor(repo.error()));
  std::string blobs = p.Query("blobs");
  respond(Json(RepoJson(**repo, blobs == "true" || blobs == "1")));
}

void Tree(Context& ctx, HubKind kind, const Request& req, const Params& p, Responder respond) {
  auto repo = RepoOf(ctx, kind, req, p);
  if (!repo.has_value()) return respond(ErrorFor(repo.error()));
  std::string dir = p.Path("path");
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  std::string recursive = p.Query("recursive");
  bool rec = recursive == "true" || recursive == "1";
  auto entries = TreeEntries(**repo, dir, rec);
  if (!entries) {
    return respond(
        ErrorFor(Status::NotFound("Entry not found: " + dir)
                     .WithInfo({"HUB_UPSTREAM", {{"status", "404"}, {"code", "EntryNotFound"}}})));
  }
  size_t from = 0;
  std::string cursor = p.Query("cursor");
  if (!cursor.empty()) {
    auto [ptr, ec] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), from);
    if (ec != std::errc() || ptr != cursor.data() + cursor.size() || from > entries->size()) {
      return respond(ErrorBody(http::status::bad_request, "Invalid cursor"));
    }
  }
  size_t to = std::min(entries->size(), from + ctx.page_size);
  json out = json::array();
  for (size_t i = from; i < to; ++i) out.push_back(EntryJson(*(*entries)[i]));
  Response res = Json(out);
  if (to < entries->size()) {
    std::string url = Base(req) + "/api/" + (kind == HubKind::kDataset ? "datasets/" : "models/") +
                      RepoId(p) + "/tree/" + Encode(p.Path("rev"), false) +
                      (dir.empty() ? "" : "/" + Encode(dir, true)) +
                      "?recursive=" + (rec ? "true" : "false") +
                      "&expand=" + (p.Query("expand") == "true" ? "true" : "false") +
                      "&cursor=" + std::to_string(to);
    res.set(http::field::link, "<" + url + ">; rel=\"next\"");
  }
  respond(std::move(res));
}

void PathsInfo(Context& ctx, HubKind kind, const Request& req, const Params& p, Responder respond) {
  auto body = ParsePathsInfo(req.body(), req[http::field::content_type]);
  if (!body.has_value())
    return respond(ErrorBody(http::status::bad_request, body.error().message()));
  auto repo = RepoOf(ctx, kind, req, p);
  if (!repo.has_value()) return respond(ErrorFor(repo.error()));
  json out = json::array();
  for (std::string path : body->paths) {
    while (!path.empty() && path.back() == '/') path.pop_back();
    if (const service::MirrorEntry* e = (*repo)->Find(path)) out.push_back(EntryJson(*e));
  }
  respond(Json(out));
}

void Resolve(Context& ctx, HubKind kind, const Request& req, const Params& p,
             FileResponder respond) {
  auto fail = [&](const Status& s) { respond(FileReply{ErrorFor(s)}); };
  auto repo = RepoOf(ctx, kind, req, p);
  if (!repo.has_value()) return fail(repo.error());
  const service::MirrorEntry* e = (*repo)->Find(p.Path("path"));
  if (!e || e->directory) {
    // As the Hub: the commit looked in comes with the refusal (clients cache "missing").
    Response res =
        ErrorFor(Status::NotFound("Entry not found: " + p.Path("path"))
                     .WithInfo({"HUB_UPSTREAM", {{"status", "404"}, {"code", "EntryNotFound"}}}));
    res.set("X-Repo-Commit", (*repo)->commit);
    return respond(FileReply{std::move(res)});
  }
  if (Status s = ctx.mirror.CheckFile(*e); !s.ok()) return fail(s);
  Response head{http::status::ok, 11};
  head.set("X-Repo-Commit", (*repo)->commit);
  head.set(http::field::etag, "\"" + e->etag() + "\"");
  if (e->lfs()) {
    head.set("X-Linked-Etag", "\"" + e->lfs_oid + "\"");
    head.set("X-Linked-Size", std::to_string(e->size));
  }
  head.set(http::field::accept_ranges, "bytes");
  head.set(http::field::content_type, "application/octet-stream");
  head.set(http::field::cache_control, "private, max-age=0");
  if (EtagMatches(req[http::field::if_none_match], e->etag())) {
    head.result(http::status::not_modified);
    return respond(FileReply{std::move(head)});
  }
  RangeRequest range = ParseRange(req[http::field::range], e->size);
  uint64_t first = 0, end = e->size;
  if (range.kind == RangeRequest::kUnsatisfiable) {
    Response res = ErrorBody(http::status::range_not_satisfiable, "Range not satisfiable");
    res.set(http::field::content_range, "bytes */" + std::to_string(e->size));
    return respond(FileReply{std::move(res)});
  }
  if (range.kind == RangeRequest::kPartial) {
    head.result(http::status::partial_content);
    head.set(http::field::content_range, "bytes " + std::to_string(range.first) + "-" +
                                             std::to_string(range.last) + "/" +
                                             std::to_string(e->size));
    first = range.first;
    end = range.last + 1;
  }
  head.set(http::field::content_length, std::to_string(end - first));
  if (req.method() == http::verb::head) return respond(FileReply{std::move(head)});
  auto source = ctx.mirror.Open(**repo, *e);
  if (!source.has_value()) return fail(source.error());
  respond(FileReply{std::move(head), std::move(*source), first, end});
}

void AddKind(std::vector<Route>& r, Context& ctx, HubKind kind) {
  const std::string api =
      kind == HubKind::kDataset ? "/api/datasets/:org/:name" : "/api/models/:org/:name";
  const std::string files = kind == HubKind::kDataset ? "/datasets/:org/:name" : "/:org/:name";
  const std::string what = kind == HubKind::kDataset ? "dataset" : "model";
  auto info = [&ctx, kind](const Request& q, const Params& p, Responder res) {
    Info(ctx, kind, q, p, res);
  };
  auto tree = [&ctx, kind](const Request& q, const Params& p, Responder res) {
    Tree(ctx, kind, q, p, res);
  };
  std::vector<QueryParam> info_query = {{"blobs", "true: each sibling's size, blobId and lfs"}};
  std::vector<QueryParam> tree_query = {{"recursive", "true: everything under the path"},
                                        {"cursor", "the page to read (from the Link header)"}};
  r.push_back({http::verb::get, api, "Hub mirror: a " + what + " repository at main", info, nullptr,
               StreamKind::kSse, Lane::kNetwork, false, info_query});
  r.push_back({http::verb::get, api + "/revision/:rev",
               "Hub mirror: a " + what + " repository at a revision (branch, tag, commit)", info,
               nullptr, StreamKind::kSse, Lane::kNetwork, false, info_query});
  r.push_back({http::verb::get, api + "/tree/:rev",
               "Hub mirror: a " + what + "'s files (Link: rel=next pages)", tree, nullptr,
               StreamKind::kSse, Lane::kNetwork, false, tree_query});
  r.push_back({http::verb::get, api + "/tree/:rev/*path",
               "Hub mirror: the files under a directory of a " + what, tree, nullptr,
               StreamKind::kSse, Lane::kNetwork, false, tree_query});
  r.push_back(
      {http::verb::post,
       api + "/paths-info/:rev",
       "Hub mirror: the entries of named paths of a " + what,
       [&ctx, kind](const Request& q, const Params& p, Responder res) {
         PathsInfo(ctx, kind, q, p, res);
       },
       nullptr,
       StreamKind::kSse,
       Lane::kNetwork,
       false,
       {},
       R"({"type":"object","properties":{"paths":{"type":"array","items":{"type":"string"}},"expand":{"type":"boolean"}},"required":["paths"]})",
       nullptr,
       /*form_body=*/true});
  Route file{
      http::verb::get,
      files + "/resolve/:rev/*path",
      "Hub mirror: a " + what + "'s file (HEAD for its metadata; Range; pulled through once)",
      nullptr,
      nullptr,
      StreamKind::kSse,
      Lane::kNetwork};
  file.file_handler = [&ctx, kind](const Request& q, const Params& p, FileResponder res) {
    Resolve(ctx, kind, q, p, res);
  };
  r.push_back(std::move(file));
}

}  // namespace

Dialect HubDialect(Context& ctx) {
  Dialect d;
  d.name = "hub";
  AddKind(d.routes, ctx, HubKind::kModel);
  AddKind(d.routes, ctx, HubKind::kDataset);
  d.error_body = ErrorBody;
  return d;
}

}  // namespace modeld::api::hub
