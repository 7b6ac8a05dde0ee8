// A connection's life: read a request's header, run the checks in http_server.h's order,
// read the body, run the route's handler on its lane, write the answer, repeat; or hand
// the socket to an event stream. Each Session lives on its connection's strand.
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <optional>

#include "api/dialect.h"
#include "api/file_send.h"
#include "api/http_server_impl.h"
#include "api/streams.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/text.h"

namespace modeld::api {

using Clock = std::chrono::steady_clock;

namespace {

// After a refusal whose body was not read, this much of it is read and dropped (for at
// most kDrainTime) before the connection closes, so the client reads the answer instead
// of a reset.
constexpr size_t kDrainLimit = 8 << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr size_t kHeaderLimit = 16 * 1024;

// What the request would do: a browser may send these cross-site without asking.
bool ChangesState(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::patch ||
         v == http::verb::delete_;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl* server, HttpServer::Impl::Listener* listener,
          std::shared_ptr<void> slot, bool overflow)
      : stream_(std::move(socket)),
        server_(server),
        listener_(listener),
        slot_(std::move(slot)),
        overflow_(overflow) {}

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

 private:
  const ServerOptions& opts() const { return server_->opts; }
  Response ErrorBody(http::status status, const std::string& message) const {
    return listener_->error_body(status, message);
  }

  void DoRead() {
    if (server_->stopping) return Close();
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(opts().body_limit);
    cors_origin_.clear();
    metric_route_ = "none";
    metric_method_ = "other";
    must_close_ = false;
    auto wait = first_ ? opts().header_timeout : opts().idle_timeout;
    if (overflow_) wait = std::min<std::chrono::seconds>(wait, std::chrono::seconds(5));
    stream_.expires_after(wait);
    first_ = false;
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Refuse(
          http::status::payload_too_large,
          "Request body too large (limit " + std::to_string(opts().body_limit) + " bytes)");
    }
    if (ec == http::error::header_limit) {
      return Refuse(http::status::request_header_fields_too_large,
                    "Request header too large (limit " + std::to_string(kHeaderLimit) + " bytes)");
    }
    bool framing = ec.category() == http::make_error_code(http::error::bad_target).category() &&
                   ec != http::error::end_of_stream && ec != http::error::partial_message &&
                   ec != http::error::need_more && ec != http::error::need_buffer;
    // A framing error: RFC 9112 asks for a 400 before the connection closes. Anything
    // else (the client went away, a timeout) just closes.
    if (framing) return Refuse(http::status::bad_request, "Malformed request: " + ec.message());
    Close();
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    started_ = Clock::now();
    const auto& h = parser_->get();
    method_ = std::string(h.method_string());
    // A method Beast does not know is the client's word: not a label value.
    if (h.method() != http::verb::unknown) {
      auto word = http::to_string(h.method());  // static storage
      metric_method_ = std::string_view(word.data(), word.size());
    }
    log_target_ = RedactTarget(h.target());
    body_unread_ = !parser_->is_done();
    keep_alive_ = h.keep_alive();

    // Framing that a proxy in front could read differently: never guess.
    size_t cl = h.count(http::field::content_length), te = h.count(http::field::transfer_encoding);
    if (cl > 1 || te > 1 || (te > 0 && cl > 0) ||
        (te > 0 &&
         !EqualsIgnoringCase(TrimSpaceTab(h[http::field::transfer_encoding]), "chunked"))) {
      return Refuse(http::status::bad_request,
                    "Malformed request: a body must have one Content-Length or be chunked, "
                    "not both, not another Transfer-Encoding");
    }
    if (overflow_) return AnswerOverflow(h.method(), h.target());

    const AccessPolicy& policy = *server_->policy;
    std::string_view host = h[http::field::host];
    if (!policy.HostAllowed(host)) {
      return Refuse(http::status::forbidden,
                    "Host '" + std::string(host.substr(0, 200)) +
                        "' is not allowed: modeld answers localhost, the addresses it listens "
                        "on and names given with --allowed-host (DNS rebinding protection)");
    }
    std::string_view origin = h[http::field::origin];
    if (h.method() == http::verb::options) return Preflight(origin);

    // HEAD is answered by the GET route, without its body.
    head_ = h.method() == http::verb::head;
    auto match = listener_->router->Find(head_ ? http::verb::get : h.method(), h.target());
    if (!match) return Refuse(http::status::bad_request, "Malformed request target");
    const Route* route = match->route;
    if (route) metric_route_ = route->pattern;
    if (!opts().token.empty() && !(route && route->public_path)) {
      bool ok = ConstantTimeEquals(h[http::field::authorization], "Bearer " + opts().token);
      // EventSource and WebSocket clients in browsers cannot set headers.
      if (!ok && route && route->stream) {
        ok = ConstantTimeEquals(match->params.Query("token"), opts().token);
      }
      if (!ok) {
        return Refuse(http::status::unauthorized, "Missing or invalid bearer token",
                      {{"WWW-Authenticate", "Bearer"}});
      }
    }
    if (!route) {
      if (match->path_matched)
        return Refuse(http::status::method_not_allowed, "Method not allowed");
      return Refuse(http::status::not_found, "Not Found");
    }
    bool upgrade = beast::websocket::is_upgrade(h);
    if ((ChangesState(h.method()) || route->stream || upgrade) &&
        !policy.OriginAllowed(origin, host)) {
      return Refuse(http::status::forbidden,
                    "Origin '" + std::string(origin.substr(0, 200)) +
                        "' may not use this API: modeld accepts requests from its own pages and "
                        "from origins given with --allowed-origin");
    }
    if (!origin.empty() && policy.CorsAllowed(origin)) cors_origin_ = std::string(origin);
    bool has_body = parser_->chunked() || parser_->content_length().value_or(0) > 0;
    if (has_body &&
        (h.method() == http::verb::post || h.method() == http::verb::put ||
         h.method() == http::verb::patch) &&
        !AccessPolicy::BodyTypeAllowed(h[http::field::content_type], route->form_body)) {
      return Refuse(http::status::unsupported_media_type,
                    "Content-Type must be application/json (curl: -H 'Content-Type: "
                    "application/json')");
    }
    route_ = route;
    params_ = std::move(match->params);
    if (!body_unread_) return OnBody({}, 0);
    if (EqualsIgnoringCase(h[http::field::expect], "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      auto self = shared_from_this();
      return http::async_write(stream_, *cont, [self, cont](beast::error_code wec, size_t) {
        if (wec) return self->Close();
        self->ReadBody();
      });
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnBody, shared_from_this()));
  }

  void OnBody(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    body_unread_ = false;
    auto req = std::make_shared<Request>(parser_->release());
    keep_alive_ = req->keep_alive();
    stream_.expires_never();  // a handler may take its time (wait=true); writes re-arm it
    const Route* route = route_;
    if (route->stream) {
      bool upgrade = beast::websocket::is_upgrade(*req);
      if (route->stream_kind != StreamKind::kWebSocket || upgrade)
        return StartStream(*route, std::move(req));
      if (!route->handler) {
        return Send(ErrorBody(http::status::upgrade_required, "This endpoint speaks WebSocket"),
                    true);
      }
      // One path, two answers: the WebSocket, and a plain GET (Pieces' progress).
    }

    if (route->file_handler) return RunFileHandler(route, std::move(req));
    RunHandler(route, std::move(req));
  }

  // Runs |route|'s plain handler on its lane; its answer goes out on this strand.
  void RunHandler(const Route* route, std::shared_ptr<Request> req) {
    auto self = shared_from_this();
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self, once](Response res) {
      if (once->exchange(true)) return;  // a handler answers once
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable { self->Send(std::move(res), true); });
    };
    Dispatch(
        route->lane,
        [route, req, params = params_, respond]() { route->handler(*req, params, respond); },
        respond);
  }

  // The same for a route answering with a file (FileReply).
  void RunFileHandler(const Route* route, std::shared_ptr<Request> req) {
    auto self = shared_from_this();
    auto once = std::make_shared<std::atomic<bool>>(false);
    FileResponder respond = [self, once](FileReply reply) {
      if (once->exchange(true)) return;
      net::post(self->stream_.get_executor(),
                [self, reply = std::move(reply)]() mutable { self->SendFile(std::move(reply)); });
    };
    Dispatch(
        route->lane,
        [route, req, params = params_, respond]() { route->file_handler(*req, params, respond); },
        [respond](Response res) { respond(FileReply{std::move(res)}); });
  }

  // Runs |run| on |lane|'s pool (inline: here); an exception or a full pool answers
  // through |fail|.
  void Dispatch(Lane lane, std::function<void()> run, std::function<void(Response)> fail) {
    {
      MutexLock lock(&server_->mu);
      ++server_->in_flight;
    }
    counted_ = true;
    auto guarded = [run = std::move(run), fail, target = log_target_]() {
      try {
        run();
      } catch (const std::exception& e) {
        log::Error("handler for {} threw: {}", target, e.what());
        fail(ErrorResponse(http::status::internal_server_error,
                           std::string("Internal error: ") + e.what()));
      } catch (...) {
        log::Error("handler for {} threw", target);
        fail(ErrorResponse(http::status::internal_server_error, "Internal error"));
      }
    };
    WorkPool* pool = lane == Lane::kStore     ? server_->store_pool.get()
                     : lane == Lane::kNetwork ? server_->network_pool.get()
                                              : nullptr;
    if (!pool) return guarded();
    if (!pool->Post(std::move(guarded))) {
      Response busy = ErrorBody(http::status::service_unavailable,
                                "Too many requests in progress; try again shortly");
      busy.set(http::field::retry_after, "1");
      fail(std::move(busy));
    }
  }

  // Sends a FileReply: its head, then its bytes with sendfile(2) as they become readable.
  void SendFile(FileReply reply) {
    if (!reply.source || reply.end <= reply.offset || head_) {
      if (reply.source && !head_) reply.head.set(http::field::content_length, "0");
      return Send(std::move(reply.head), true);
    }
    Response& res = reply.head;
    SetCommonHeaders(res);
    res.body().clear();
    res.content_length(reply.end - reply.offset);
    Count(res.result_int());
    if (opts().access_log) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
      log::Info("{} {} {} {} {:.1f}ms (file)", method_, log_target_, res.result_int(),
                reply.end - reply.offset, ms);
    }
    auto self = shared_from_this();
    const bool keep_alive = res.keep_alive();
    FileSend::Start(stream_, self, FileSend::Head(std::move(res.base())), std::move(reply.source),
                    reply.offset, reply.end,
                    [self, keep_alive](bool ok) { self->FileDone(ok && keep_alive); });
  }

  // The file's bytes were all sent and the connection stays open (|keep|), or it closes.
  void FileDone(bool keep) {
    if (counted_) {
      counted_ = false;
      MutexLock lock(&server_->mu);
      --server_->in_flight;
      server_->cv.SignalAll();
    }
    if (!keep) return Close();
    DoRead();
  }

  void StartStream(const Route& route, std::shared_ptr<Request> req) {
    if (opts().access_log) log::Info("{} {} stream", method_, log_target_);
    std::vector<std::string> extra;
    if (!cors_origin_.empty()) {
      extra.push_back("Access-Control-Allow-Origin: " + cors_origin_);
      extra.push_back("Vary: Origin");
    }
    // The handler either starts the stream (the connection moves into it) or answers
    // plainly, on this strand, before it returns.
    enum Outcome { kNone, kRejected, kStarted, kPlain };
    auto outcome = std::make_shared<Outcome>(kNone);  // a late call finds it decided
    auto self = shared_from_this();
    StreamReply reply;
    reply.Reject = [this, self, outcome](Response res) {
      if (*outcome != kNone) return;
      *outcome = kRejected;
      counted_ = false;
      Send(std::move(res), true);
    };
    reply.Plain = [outcome, &route]() {
      if (*outcome != kNone || !route.handler) return false;
      *outcome = kPlain;
      return true;
    };
    reply.Post = [self](std::function<void()> fn) {
      return self->server_->network_pool->Post(std::move(fn));
    };
    reply.Start = [this, self, outcome, &route, req, extra]() -> std::shared_ptr<EventStream> {
      if (*outcome != kNone) return nullptr;
      *outcome = kStarted;
      bool websocket = route.stream_kind == StreamKind::kWebSocket;
      Count(websocket ? 101 : 200);
      switch (route.stream_kind) {
        case StreamKind::kWebSocket:
          return StartWebSocket(std::move(stream_), *req, slot_);
        case StreamKind::kNdjson:
          return StartBodyStream(std::move(stream_), "application/x-ndjson", extra, slot_);
        case StreamKind::kSse:
          return StartBodyStream(std::move(stream_), "text/event-stream", extra, slot_);
      }
      return nullptr;
    };
    try {
      route.stream(*req, params_, reply);
    } catch (const std::exception& e) {
      log::Error("stream handler for {} threw: {}", log_target_, e.what());
      if (*outcome == kNone)
        reply.Reject(ErrorBody(http::status::internal_server_error, "Internal error"));
    }
    if (*outcome == kPlain) return RunHandler(&route, std::move(req));
    if (*outcome == kNone) {
      log::Error("stream handler for {} gave no answer", log_target_);
      reply.Reject(ErrorBody(http::status::internal_server_error, "Internal error: no answer"));
    }
  }

  // A CORS preflight: only configured origins are told they may proceed.
  void Preflight(std::string_view origin) {
    const auto& h = parser_->get();
    if (origin.empty() || !server_->policy->CorsAllowed(origin)) {
      return Refuse(
          http::status::forbidden,
          "Cross-origin requests from '" + std::string(origin.substr(0, 200)) +
              "' are not allowed (start modeld with --allowed-origin to allow an origin)");
    }
    cors_origin_ = std::string(origin);
    Response res{http::status::no_content, 11};
    res.set(http::field::access_control_allow_methods,
            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    res.set(http::field::access_control_allow_headers,
            "Authorization, Content-Type, X-Application-ID");
    res.set(http::field::access_control_max_age, "600");
    // Chrome's Private Network Access: a public page asking a local server.
    if (EqualsIgnoringCase(h["Access-Control-Request-Private-Network"], "true")) {
      res.set("Access-Control-Allow-Private-Network", "true");
    }
    must_close_ = body_unread_;
    Send(std::move(res), true);
  }

  // Past the connection cap: one answer, then close.
  void AnswerOverflow(http::verb method, std::string_view target) {
    must_close_ = true;
    if (method == http::verb::get && target == "/healthz") {
      return Send(JsonResponse(http::status::ok, "{\"status\":\"ok\"}"), true);
    }
    Response res = ErrorBody(http::status::service_unavailable,
                             "Too many connections (limit " +
                                 std::to_string(server_->max_connections) + "); try again shortly");
    res.set(http::field::retry_after, "1");
    Send(std::move(res), true);
  }

  void Refuse(http::status status, const std::string& message,
              std::vector<std::pair<std::string, std::string>> headers = {}) {
    Response res = ErrorBody(status, message);
    for (auto& [k, v] : headers) res.set(k, v);
    // A request whose body was not read, or whose framing is in doubt, ends here.
    must_close_ = body_unread_ || status == http::status::bad_request ||
                  status == http::status::payload_too_large ||
                  status == http::status::request_header_fields_too_large;
    if (method_.empty()) method_ = "-";
    Send(std::move(res), true);
  }

  // What every answer carries: version, Server, CORS for an allowed origin, keep-alive.
  void SetCommonHeaders(Response& res) {
    res.version(11);
    res.set(http::field::server, "modeld");
    if (!cors_origin_.empty()) {
      res.set(http::field::access_control_allow_origin, cors_origin_);
      res.set(http::field::vary, "Origin");
    }
    res.keep_alive(keep_alive_ && !must_close_ && !server_->stopping);
  }

  void Send(Response res, bool log) {
    SetCommonHeaders(res);
    // A HEAD of a file route states the file's length itself.
    std::string preset = head_ && res.body().empty() && res.count(http::field::content_length)
                             ? std::string(res[http::field::content_length])
                             : std::string();
    res.prepare_payload();
    if (head_) {  // the GET's headers, Content-Length included; no body
      std::string length = preset.empty() ? std::to_string(res.body().size()) : preset;
      res.body().clear();
      res.set(http::field::content_length, length);
    }
    if (log) Count(res.result_int());
    if (log && opts().access_log) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
      log::Info("{} {} {} {} {:.1f}ms", method_, log_target_, res.result_int(), res.body().size(),
                ms);
    }
    res_ = std::make_shared<Response>(std::move(res));
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, *res_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  // Counts this request's answer with |status| (http_server.h: Metrics).
  void Count(unsigned status) {
    char code[12];
    auto end = std::to_chars(code, code + sizeof code, status).ptr;
    std::string_view status_label(code, static_cast<size_t>(end - code));
    double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    server_->http_requests.Get({metric_route_, metric_method_, status_label}).Inc();
    server_->http_latency.Get({metric_route_, metric_method_, status_label}).Observe(seconds);
  }

  void OnWrite(beast::error_code ec, size_t) {
    bool close = !res_->keep_alive();
    res_.reset();
    if (counted_) {
      counted_ = false;
      MutexLock lock(&server_->mu);
      --server_->in_flight;
      server_->cv.SignalAll();
    }
    if (ec) return Close();
    if (must_close_) return Linger();
    if (close) return Close();
    DoRead();
  }

  // Half-closes, then reads and drops what the client is still sending (bounded), so the
  // answer is read rather than lost to a reset.
  void Linger() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kDrainTime);
    drain_.resize(64 * 1024);
    Drain();
  }
  void Drain() {
    auto self = shared_from_this();
    stream_.async_read_some(net::buffer(drain_), [self](beast::error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > kDrainLimit) return self->Close();
      self->Drain();
    });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  HttpServer::Impl* server_;
  HttpServer::Impl::Listener* listener_;
  std::shared_ptr<void> slot_;
  const bool overflow_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const Route* route_ = nullptr;
  Params params_;
  std::shared_ptr<Response> res_;
  std::string method_, log_target_, cors_origin_;
  // The labels of this request's metrics: its route's pattern (owned by the router, which
  // outlives every session) or "none", and its method or "other".
  std::string_view metric_route_ = "none", metric_method_ = "other";
  std::vector<char> drain_;
  size_t drained_ = 0;
  bool keep_alive_ = true;
  bool must_close_ = false;
  bool body_unread_ = false;
  bool first_ = true;
  bool counted_ = false;
  bool head_ = false;
  Clock::time_point started_ = Clock::now();
};

}  // namespace

void RunSession(tcp::socket&& socket, HttpServer::Impl* server,
                HttpServer::Impl::Listener* listener, std::shared_ptr<void> slot, bool overflow) {
  std::make_shared<Session>(std::move(socket), server, listener, std::move(slot), overflow)->Run();
}

}  // namespace modeld::api
