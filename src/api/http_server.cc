#include "api/http_server.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "api/access_policy.h"
#include "api/dialect.h"
#include "api/router.h"
#include "api/streams.h"
#include "api/work_pool.h"
#include "core/log.h"
#include "core/redact.h"

namespace modeld::api {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kHeaderLimit = 16 * 1024;
// After a refusal whose body was not read, this much of it is read and dropped (for at
// most kDrainTime) before the connection closes, so the client reads the answer instead
// of a reset.
constexpr size_t kDrainLimit = 8 << 20;
constexpr auto kDrainTime = std::chrono::seconds(2);
// Connections past the cap that are still given an answer; beyond, they are closed.
constexpr int kMaxOverflow = 64;
constexpr auto kMaxAcceptBackoff = std::chrono::milliseconds(200);

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// What the request would do: a browser may send these cross-site without asking.
bool ChangesState(http::verb v) {
  return v == http::verb::post || v == http::verb::put || v == http::verb::patch ||
         v == http::verb::delete_;
}

Result<tcp::endpoint> ParseListen(const std::string& spec) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("listen address '" + spec + "' needs a port (host:port)");
  }
  std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host == "localhost" || host.empty()) host = "127.0.0.1";
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("listen address '" + spec + "': bad host '" + host + "'");
  int p = -1;
  auto [end, perr] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (perr != std::errc() || end != port.data() + port.size() || p < 0 || p > 65535) {
    return Status::InvalidArgument("listen address '" + spec + "': bad port");
  }
  return tcp::endpoint(addr, static_cast<uint16_t>(p));
}

int OpenReserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

}  // namespace

uint64_t RaiseFileLimit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return rl.rlim_cur == RLIM_INFINITY ? (1u << 20) : static_cast<uint64_t>(rl.rlim_cur);
}

struct HttpServer::Impl {
  explicit Impl(ServerOptions o, std::vector<Dialect> d)
      : opts(std::move(o)), dialects(std::move(d)) {}

  ServerOptions opts;
  std::vector<Dialect> dialects;
  std::unique_ptr<AccessPolicy> policy;  // set in Start(), from the bound addresses
  int max_connections = 0;

  // Counters outlive the sessions (declared before the io_contexts that own them).
  std::atomic<int> connections{0};
  std::atomic<int> overflow{0};
  std::atomic<int> reserve_fd{-1};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;  // GUARDED_BY(mu): requests being handled or written

  std::unique_ptr<WorkPool> store_pool, network_pool;
  // One io_context per I/O thread (as nginx has one event loop per worker): each
  // connection lives on one of them, so no two threads contend for one epoll and a busy
  // connection cannot starve the others behind a shared queue. Acceptors run on the first.
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::atomic<size_t> next_ioc{0};
  struct Listener {
    std::unique_ptr<tcp::acceptor> acceptor;
    std::unique_ptr<net::steady_timer> retry;
    std::chrono::milliseconds backoff{0};
    std::unique_ptr<Router> router;  // the routes of its dialects
    ErrorBody error_body;            // its first dialect's
  };
  std::vector<std::unique_ptr<Listener>> listeners;
  std::vector<std::thread> threads;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;

  net::io_context& NextIoc() { return *iocs[next_ioc++ % iocs.size()]; }
  void Accept(Listener& l);
  void Admit(tcp::socket socket, Listener& l);
  void ServeFromReserve(Listener& l);
  // Counts a connection while the returned handle lives.
  std::shared_ptr<void> Slot(bool over, bool from_reserve);
};

namespace {

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
    log_target_ = RedactTarget(h.target());
    body_unread_ = !parser_->is_done();
    keep_alive_ = h.keep_alive();

    // Framing that a proxy in front could read differently: never guess.
    size_t cl = h.count(http::field::content_length), te = h.count(http::field::transfer_encoding);
    if (cl > 1 || te > 1 || (te > 0 && cl > 0) ||
        (te > 0 && !beast::iequals(Trim(h[http::field::transfer_encoding]), "chunked"))) {
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
        !AccessPolicy::IsJsonContentType(h[http::field::content_type])) {
      return Refuse(http::status::unsupported_media_type,
                    "Content-Type must be application/json (curl: -H 'Content-Type: "
                    "application/json')");
    }
    route_ = route;
    params_ = std::move(match->params);
    if (!body_unread_) return OnBody({}, 0);
    if (beast::iequals(h[http::field::expect], "100-continue")) {
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

    {
      std::lock_guard<std::mutex> lock(server_->mu);
      ++server_->in_flight;
    }
    counted_ = true;
    auto self = shared_from_this();
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self, once](Response res) {
      if (once->exchange(true)) return;  // a handler answers once
      net::post(self->stream_.get_executor(),
                [self, res = std::move(res)]() mutable { self->Send(std::move(res), true); });
    };
    auto run = [route, req, params = params_, respond, target = log_target_]() {
      try {
        route->handler(*req, params, respond);
      } catch (const std::exception& e) {
        log::Error("handler for {} threw: {}", target, e.what());
        respond(ErrorResponse(http::status::internal_server_error,
                              std::string("Internal error: ") + e.what()));
      } catch (...) {
        log::Error("handler for {} threw", target);
        respond(ErrorResponse(http::status::internal_server_error, "Internal error"));
      }
    };
    WorkPool* pool = route->lane == Lane::kStore     ? server_->store_pool.get()
                     : route->lane == Lane::kNetwork ? server_->network_pool.get()
                                                     : nullptr;
    if (!pool) return run();
    if (!pool->Post(std::move(run))) {
      Response busy = ErrorBody(http::status::service_unavailable,
                                "Too many requests in progress; try again shortly");
      busy.set(http::field::retry_after, "1");
      respond(std::move(busy));
    }
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
    enum Outcome { kNone, kRejected, kStarted };
    auto outcome = std::make_shared<Outcome>(kNone);  // a late call finds it decided
    auto self = shared_from_this();
    StreamReply reply;
    reply.Reject = [this, self, outcome](Response res) {
      if (*outcome != kNone) return;
      *outcome = kRejected;
      counted_ = false;
      Send(std::move(res), true);
    };
    reply.Start = [this, self, outcome, &route, req, extra]() -> std::shared_ptr<EventStream> {
      if (*outcome != kNone) return nullptr;
      *outcome = kStarted;
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
    if (beast::iequals(h["Access-Control-Request-Private-Network"], "true")) {
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

  void Send(Response res, bool log) {
    res.version(11);
    res.set(http::field::server, "modeld");
    if (!cors_origin_.empty()) {
      res.set(http::field::access_control_allow_origin, cors_origin_);
      res.set(http::field::vary, "Origin");
    }
    res.keep_alive(keep_alive_ && !must_close_ && !server_->stopping);
    res.prepare_payload();
    if (head_) {  // the GET's headers, Content-Length included; no body
      std::string length = std::to_string(res.body().size());
      res.body().clear();
      res.set(http::field::content_length, length);
    }
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

  void OnWrite(beast::error_code ec, size_t) {
    bool close = !res_->keep_alive();
    res_.reset();
    if (counted_) {
      counted_ = false;
      std::lock_guard<std::mutex> lock(server_->mu);
      --server_->in_flight;
      server_->cv.notify_all();
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

std::shared_ptr<void> HttpServer::Impl::Slot(bool over, bool from_reserve) {
  return std::shared_ptr<void>(static_cast<void*>(nullptr), [this, over, from_reserve](void*) {
    --connections;
    if (over) --overflow;
    if (from_reserve) {
      int fd = OpenReserve();
      int none = -1;
      if (fd >= 0 && !reserve_fd.compare_exchange_strong(none, fd)) ::close(fd);
    }
  });
}

void HttpServer::Impl::Admit(tcp::socket socket, Listener& l) {
  int n = ++connections;
  bool over = n > max_connections;
  if (over && ++overflow > kMaxOverflow) {
    // Not even an answer can be afforded: say so in one non-blocking write and hang up.
    static const char kBusy[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\n"
        "Connection: close\r\n\r\n";
    beast::error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(net::buffer(kBusy, sizeof kBusy - 1), ec);
    socket.close(ec);
    --overflow;
    --connections;
    return;
  }
  std::make_shared<Session>(std::move(socket), this, &l, Slot(over, false), over)->Run();
}

// Out of descriptors: the one kept in reserve takes waiting connections off the backlog,
// one at a time. One whose request is already there (a health check) is answered; the
// others are told 503 at once rather than left to time out in the queue.
void HttpServer::Impl::ServeFromReserve(Listener& l) {
  static const std::string kBusy = [] {
    std::string body = "{\"detail\": \"Out of file descriptors; try again shortly\"}";
    return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
           "application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
  }();
  for (int i = 0; i < kMaxOverflow; ++i) {
    int fd = reserve_fd.exchange(-1);
    if (fd < 0) return;  // a session is using it
    ::close(fd);
    auto restore = [this] {
      int again = OpenReserve();
      int none = -1;
      if (again >= 0 && !reserve_fd.compare_exchange_strong(none, again)) ::close(again);
    };
    tcp::socket socket(net::make_strand(NextIoc()));
    beast::error_code ec;
    l.acceptor->accept(socket, ec);
    if (ec) return restore();  // the backlog is empty, or still no descriptor
    if (socket.available(ec) > 0 && !ec) {
      ++connections;
      ++overflow;
      std::make_shared<Session>(std::move(socket), this, &l, Slot(true, true), true)->Run();
      return;  // the reserve comes back when that session ends
    }
    socket.non_blocking(true, ec);
    socket.write_some(net::buffer(kBusy), ec);
    socket.close(ec);
    restore();
  }
}

void HttpServer::Impl::Accept(Listener& l) {
  l.acceptor->async_accept(
      net::make_strand(NextIoc()), [this, &l](beast::error_code ec, tcp::socket socket) {
        if (stopping || !l.acceptor->is_open()) return;
        if (ec) {
          if (ec == net::error::no_descriptors || ec.value() == ENFILE ||
              ec == net::error::no_buffer_space || ec == net::error::no_memory) {
            ServeFromReserve(l);
            auto next = std::max(std::chrono::milliseconds(10), l.backoff * 2);
            if (l.backoff.count() == 0) log::Warn("accept: {}; backing off", ec.message());
            l.backoff = std::min(next, kMaxAcceptBackoff);
            l.retry->expires_after(l.backoff);
            l.retry->async_wait([this, &l](beast::error_code tec) {
              if (!tec && !stopping) Accept(l);
            });
            return;
          }
          return Accept(l);  // ECONNABORTED and the like: the next one
        }
        l.backoff = std::chrono::milliseconds(0);
        Admit(std::move(socket), l);
        // A burst of clients (1,000 connecting at once) is taken in one go: each waiting
        // connection's first request is already in its socket, and a connection accepted
        // one event-loop turn at a time would wait for hundreds of others' answers first.
        for (int i = 0; i < 256 && !stopping; ++i) {
          beast::error_code aec;
          tcp::socket more(net::make_strand(NextIoc()));
          l.acceptor->accept(more, aec);  // non-blocking: the acceptor is set so in Start()
          if (aec) break;
          Admit(std::move(more), l);
        }
        Accept(l);
      });
}

HttpServer::HttpServer(ServerOptions options, std::vector<Dialect> dialects)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(dialects))) {}

HttpServer::HttpServer(ServerOptions options, std::vector<Route> routes)
    : HttpServer(std::move(options), std::vector<Dialect>{Dialect{"default", std::move(routes)}}) {}

HttpServer::~HttpServer() {
  Stop(std::chrono::milliseconds(0));
  int fd = impl_->reserve_fd.exchange(-1);
  if (fd >= 0) ::close(fd);
}

Status HttpServer::Start() {
  auto& im = *impl_;
  uint64_t files = RaiseFileLimit();
  // Leave room for downloads (up to 16 connections per file), the registry and logs.
  im.max_connections = im.opts.max_connections > 0
                           ? im.opts.max_connections
                           : static_cast<int>(std::clamp<uint64_t>(
                                 files > 512 ? files - 512 : files / 2, 32, 10000));
  int n = im.opts.threads > 0
              ? im.opts.threads
              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  for (int i = 0; i < n; ++i) im.iocs.push_back(std::make_unique<net::io_context>(1));
  AccessPolicyOptions policy;
  policy.allowed_hosts = im.opts.allowed_hosts;
  policy.allowed_origins = im.opts.allowed_origins;
  for (const auto& text : im.opts.listen) {
    auto spec = ParseListenSpec(text);
    if (!spec.has_value()) return spec.error();
    auto ep = ParseListen(spec->address);
    if (!ep.has_value()) return ep.error();
    auto l = std::make_unique<Impl::Listener>();
    std::vector<const Dialect*> spoken;
    for (const auto& d : im.dialects) {
      if (spec->dialects.empty()) spoken.push_back(&d);
    }
    for (const auto& name : spec->dialects) {
      auto it = std::find_if(im.dialects.begin(), im.dialects.end(),
                             [&](const Dialect& d) { return d.name == name; });
      if (it == im.dialects.end()) {
        std::string known;
        for (const auto& d : im.dialects) known += (known.empty() ? "" : ", ") + d.name;
        return Status::InvalidArgument("--listen " + text + ": no dialect '" + name +
                                       "' (there are: " + known + ")");
      }
      spoken.push_back(&*it);
    }
    if (spoken.empty())
      return Status::InvalidArgument("--listen " + text + ": no dialect to speak");
    l->router = std::make_unique<Router>(CombineRoutes(spoken));
    l->error_body = spoken.front()->error_body;
    const std::string& spec_address = spec->address;
    l->acceptor = std::make_unique<tcp::acceptor>(*im.iocs[0]);
    l->retry = std::make_unique<net::steady_timer>(*im.iocs[0]);
    auto& acc = *l->acceptor;
    boost::system::error_code ec;
    acc.open(ep->protocol(), ec);
    if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec && ep->address().is_v6()) acc.set_option(net::ip::v6_only(true), ec);
    if (!ec) acc.bind(*ep, ec);
    if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
    if (!ec) acc.non_blocking(true, ec);
    if (ec) return Status::Unavailable("cannot listen on " + spec_address + ": " + ec.message());
    policy.listen_addresses.push_back(ep->address().to_string());
    im.listeners.push_back(std::move(l));
  }
  im.policy = std::make_unique<AccessPolicy>(std::move(policy));
  im.store_pool = std::make_unique<WorkPool>("store", im.opts.store_threads, 256);
  im.network_pool = std::make_unique<WorkPool>("network", im.opts.network_threads, 64);
  im.reserve_fd = OpenReserve();
  for (auto& l : im.listeners) im.Accept(*l);
  for (auto& ioc : im.iocs) {
    im.work.push_back(net::make_work_guard(*ioc));
    im.threads.emplace_back([ioc = ioc.get()] {
      // A handler that throws costs its request, not the server (Beast's advice).
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          log::Error("I/O thread: {}", e.what());
        } catch (...) {
          log::Error("I/O thread: unknown exception");
        }
      }
    });
  }
  return Status::OK();
}

void HttpServer::Stop(std::chrono::milliseconds grace) {
  auto& im = *impl_;
  if (im.threads.empty()) return;
  im.stopping = true;
  net::post(*im.iocs[0], [&im] {
    for (auto& l : im.listeners) {
      boost::system::error_code ec;
      l->acceptor->close(ec);
      l->retry->cancel();
    }
  });
  {
    std::unique_lock<std::mutex> lock(im.mu);
    im.cv.wait_for(lock, grace, [&im] { return im.in_flight == 0; });
  }
  im.work.clear();
  for (auto& ioc : im.iocs) ioc->stop();
  for (auto& t : im.threads) t.join();
  im.threads.clear();
  // Handlers still running on a pool finish (their answers go nowhere) before the routes'
  // context goes away.
  im.store_pool.reset();
  im.network_pool.reset();
}

std::vector<std::string> HttpServer::bound() const {
  std::vector<std::string> out;
  for (const auto& l : impl_->listeners) {
    boost::system::error_code ec;
    auto ep = l->acceptor->local_endpoint(ec);
    if (ec) continue;
    std::string host = ep.address().to_string();
    if (ep.address().is_v6()) host = "[" + host + "]";
    out.push_back(host + ":" + std::to_string(ep.port()));
  }
  return out;
}

std::vector<uint16_t> HttpServer::ports() const {
  std::vector<uint16_t> out;
  for (const auto& l : impl_->listeners) {
    boost::system::error_code ec;
    auto ep = l->acceptor->local_endpoint(ec);
    if (!ec) out.push_back(ep.port());
  }
  return out;
}

int HttpServer::max_connections() const { return impl_->max_connections; }

}  // namespace modeld::api
