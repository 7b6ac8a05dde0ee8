#include "api/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <boost/url/parse.hpp>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "core/log.h"

namespace modeld::api {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

Response JsonResponse(http::status status, const std::string& json_body) {
  Response res{status, 11};
  res.set(http::field::content_type, "application/json");
  res.body() = json_body;
  return res;
}

Response ErrorResponse(http::status status, const std::string& detail) {
  std::string escaped;
  for (char c : detail) {
    switch (c) {
      case '"': escaped += "\\\""; break;
      case '\\': escaped += "\\\\"; break;
      case '\n': escaped += "\\n"; break;
      case '\r': escaped += "\\r"; break;
      case '\t': escaped += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          escaped += buf;
        } else {
          escaped += c;
        }
    }
  }
  return JsonResponse(status, "{\"detail\": \"" + escaped + "\"}");
}

namespace {

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

struct CompiledRoute {
  Route route;
  std::vector<std::string> segments;  // literal, ":param", or a final "*param"
};

// Matches |segs| (decoded) against |r|; fills |params|.
bool Match(const CompiledRoute& r, const std::vector<std::string>& segs, Params* params) {
  const auto& pat = r.segments;
  for (size_t i = 0; i < pat.size(); ++i) {
    const std::string& p = pat[i];
    if (!p.empty() && p[0] == '*') {
      if (i >= segs.size()) return false;
      std::string rest;
      for (size_t k = i; k < segs.size(); ++k) rest += (k > i ? "/" : "") + segs[k];
      params->path[p.substr(1)] = rest;
      return true;
    }
    if (i >= segs.size()) return false;
    if (!p.empty() && p[0] == ':') {
      params->path[p.substr(1)] = segs[i];
    } else if (p != segs[i]) {
      return false;
    }
  }
  return segs.size() == pat.size();
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

Result<tcp::endpoint> ParseListen(const std::string& spec) {
  size_t colon = spec.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("listen address '" + spec + "' needs a port (host:port)");
  }
  std::string host = spec.substr(0, colon), port = spec.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  if (host.empty()) host = "127.0.0.1";
  boost::system::error_code ec;
  auto addr = net::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("listen address '" + spec + "': bad host '" + host + "'");
  int p = -1;
  try {
    p = std::stoi(port);
  } catch (...) {
  }
  if (p < 0 || p > 65535) return Status::InvalidArgument("listen address '" + spec + "': bad port");
  return tcp::endpoint(addr, static_cast<uint16_t>(p));
}

}  // namespace

struct HttpServer::Impl {
  ServerOptions opts;
  std::vector<CompiledRoute> routes;
  // One io_context per I/O thread (as nginx has one event loop per worker): each
  // connection lives on one of them, so no two threads contend for one epoll and a busy
  // connection cannot starve the others behind a shared queue. Acceptors run on the first.
  std::vector<std::unique_ptr<net::io_context>> iocs;
  std::atomic<size_t> next_ioc{0};
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::vector<std::thread> threads;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;  // GUARDED_BY(mu): requests being handled or written
  std::atomic<bool> stopping{false};

  void Accept(tcp::acceptor& acc);
  // Parses the target, checks the token, and finds the route. Returns the response to
  // send instead when any of that fails (or for a CORS preflight).
  std::optional<Response> Route(const Request& req, const CompiledRoute** route, Params* params);
};

namespace {

// A queue in which a message replaces a waiting one with the same non-empty key.
class CoalescingQueue {
 public:
  void Push(const std::string& key, std::string data) {
    if (!key.empty()) {
      for (auto& [k, d] : q_) {
        if (k == key) {
          d = std::move(data);
          return;
        }
      }
    }
    q_.emplace_back(key, std::move(data));
  }
  bool empty() const { return q_.empty(); }
  std::string Pop() {
    std::string d = std::move(q_.front().second);
    q_.pop_front();
    return d;
  }

 private:
  std::deque<std::pair<std::string, std::string>> q_;
};

// The common part of SSE and WebSocket streams: the queue, closing, the close callback.
// Subclasses write one message at a time on their strand.
class StreamBase : public EventStream {
 public:
  void Send(const std::string& key, std::string data) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_ || closing_) return;
      queue_.Push(key, std::move(data));
    }
    Kick();
  }
  void Close() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    Kick();
  }
  bool closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  void OnClose(std::function<void()> fn) override {
    bool now = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) {
        now = true;
      } else {
        on_close_ = std::move(fn);
      }
    }
    if (now) fn();
  }

 protected:
  virtual void Kick() = 0;  // post Pump to the strand
  // On the strand: the next message to write, or nullopt (and *finish when the stream
  // should end now).
  std::optional<std::string> Next(bool* finish) {
    std::lock_guard<std::mutex> lock(mu_);
    *finish = false;
    if (closed_) return std::nullopt;
    if (!queue_.empty()) return queue_.Pop();
    if (closing_) *finish = true;
    return std::nullopt;
  }
  void Finished() {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      fn = std::move(on_close_);
    }
    if (fn) fn();
  }

 private:
  mutable std::mutex mu_;
  CoalescingQueue queue_;               // GUARDED_BY(mu_)
  bool closing_ = false;                // GUARDED_BY(mu_)
  bool closed_ = false;                 // GUARDED_BY(mu_)
  std::function<void()> on_close_;      // GUARDED_BY(mu_)
};

// Server-Sent Events: a 200 with text/event-stream, then each message as written; the
// body ends when the connection closes.
class SseStream : public StreamBase, public std::enable_shared_from_this<SseStream> {
 public:
  explicit SseStream(beast::tcp_stream&& s) : stream_(std::move(s)) {}
  void Start() {
    stream_.expires_never();
    current_ =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Connection: close\r\nAccess-Control-Allow-Origin: *\r\nX-Accel-Buffering: no\r\n\r\n"
        ": modeld event stream\n\n";
    writing_ = true;
    auto self = shared_from_this();
    net::async_write(stream_.socket(), net::buffer(current_),
                     [self](beast::error_code ec, size_t) { self->OnWrite(ec); });
    ReadForClose();
  }

 private:
  void Kick() override {
    auto self = shared_from_this();
    net::post(stream_.get_executor(), [self] { self->Pump(); });
  }
  void Pump() {
    if (writing_) return;
    bool finish = false;
    auto next = Next(&finish);
    if (finish) return Shut();
    if (!next) return;
    current_ = std::move(*next);
    writing_ = true;
    auto self = shared_from_this();
    net::async_write(stream_.socket(), net::buffer(current_),
                     [self](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }
  void OnWrite(beast::error_code ec) {
    writing_ = false;
    if (ec) return Shut();
    Pump();
  }
  void ReadForClose() {  // the client sends nothing; a read completes when it leaves
    auto self = shared_from_this();
    stream_.socket().async_read_some(net::buffer(rbuf_), [self](beast::error_code ec, size_t) {
      if (ec) return self->Shut();
      self->ReadForClose();
    });
  }
  void Shut() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
    Finished();
  }

  beast::tcp_stream stream_;
  std::string current_;
  bool writing_ = false;
  char rbuf_[64];
};

// A WebSocket: every message a text frame.
class WsStream : public StreamBase, public std::enable_shared_from_this<WsStream> {
 public:
  explicit WsStream(beast::tcp_stream&& s) : ws_(std::move(s)) {}
  void Start(Request req) {
    ws_.set_option(beast::websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(beast::websocket::stream_base::decorator(
        [](beast::websocket::response_type& res) { res.set(http::field::server, "modeld"); }));
    ws_.text(true);
    req_ = std::move(req);
    auto self = shared_from_this();
    ws_.async_accept(req_, [self](beast::error_code ec) {
      if (ec) return self->Finished();
      self->accepted_ = true;
      self->Read();
      self->Pump();
    });
  }

 private:
  void Kick() override {
    auto self = shared_from_this();
    net::post(ws_.get_executor(), [self] { self->Pump(); });
  }
  void Pump() {
    if (!accepted_ || writing_) return;
    bool finish = false;
    auto next = Next(&finish);
    if (finish) {
      auto self = shared_from_this();
      return ws_.async_close(beast::websocket::close_code::normal,
                             [self](beast::error_code) { self->Finished(); });
    }
    if (!next) return;
    current_ = std::move(*next);
    writing_ = true;
    auto self = shared_from_this();
    ws_.async_write(net::buffer(current_), [self](beast::error_code ec, size_t) {
      self->writing_ = false;
      if (ec) return self->Finished();
      self->Pump();
    });
  }
  void Read() {  // client messages are ignored; a read fails when the client leaves
    auto self = shared_from_this();
    ws_.async_read(rbuf_, [self](beast::error_code ec, size_t) {
      if (ec) return self->Finished();
      self->rbuf_.consume(self->rbuf_.size());
      self->Read();
    });
  }

  beast::websocket::stream<beast::tcp_stream> ws_;
  Request req_;
  std::string current_;
  beast::flat_buffer rbuf_;
  bool accepted_ = false;
  bool writing_ = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::DoRead, shared_from_this()));
  }

 private:
  void DoRead() {
    if (server_->stopping) return Close();
    parser_.emplace();
    parser_->body_limit(server_->opts.body_limit);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(first_ ? server_->opts.header_timeout : server_->opts.idle_timeout);
    first_ = false;
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return Send(ErrorResponse(http::status::payload_too_large,
                                "Request body too large (limit " +
                                    std::to_string(server_->opts.body_limit) + " bytes)"),
                  false);
    }
    if (ec == http::error::header_limit || ec == http::error::bad_target ||
        ec == http::error::bad_method || ec == http::error::bad_version) {
      keep_alive_ = false;
      return Send(ErrorResponse(http::status::bad_request, "Malformed request: " + ec.message()),
                  false);
    }
    if (ec) return Close();
    req_ = parser_->release();
    keep_alive_ = req_.keep_alive();
    started_ = Clock::now();
    stream_.expires_never();  // a handler may take its time (wait=true); writes re-arm it
    const CompiledRoute* route = nullptr;
    Params params;
    std::optional<Response> early = server_->Route(req_, &route, &params);
    if (!early && route->route.stream) {
      if (server_->opts.access_log) {
        log::Info("{} {} stream", std::string(req_.method_string()), std::string(req_.target()));
      }
      if (route->route.websocket) {
        if (!beast::websocket::is_upgrade(req_)) {
          early = ErrorResponse(http::status::upgrade_required, "This endpoint speaks WebSocket");
        } else {
          auto ws = std::make_shared<WsStream>(std::move(stream_));
          route->route.stream(req_, params, ws);
          ws->Start(std::move(req_));
          return;
        }
      } else {
        auto sse = std::make_shared<SseStream>(std::move(stream_));
        route->route.stream(req_, params, sse);
        sse->Start();
        return;
      }
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
      net::post(self->stream_.get_executor(), [self, res = std::move(res)]() mutable {
        self->Send(std::move(res), true);
      });
    };
    if (early) return respond(std::move(*early));
    try {
      route->route.handler(req_, params, respond);
    } catch (const std::exception& e) {
      log::Error("handler for {} threw: {}", std::string(req_.target()), e.what());
      respond(ErrorResponse(http::status::internal_server_error, std::string("Internal error: ") + e.what()));
    }
  }

  void Send(Response res, bool log) {
    res.version(11);
    res.set(http::field::server, "modeld");
    res.set(http::field::access_control_allow_origin, "*");
    res.keep_alive(keep_alive_ && !server_->stopping);
    res.prepare_payload();
    if (log && server_->opts.access_log) {
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
      log::Info("{} {} {} {} {:.1f}ms", std::string(req_.method_string()), std::string(req_.target()),
                res.result_int(), res.body().size(), ms);
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
    if (ec || close) return Close();
    DoRead();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  HttpServer::Impl* server_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request req_;
  std::shared_ptr<Response> res_;
  bool keep_alive_ = true;
  bool first_ = true;
  bool counted_ = false;
  Clock::time_point started_;
};

}  // namespace

void HttpServer::Impl::Accept(tcp::acceptor& acc) {
  net::io_context& home = *iocs[next_ioc++ % iocs.size()];
  acc.async_accept(net::make_strand(home), [this, &acc](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping && acc.is_open()) Accept(acc);
      return;
    }
    std::make_shared<Session>(std::move(socket), this)->Run();
    // A burst of clients (1,000 connecting at once) is taken in one go: each waiting
    // connection's first request is already in its socket, and a connection accepted
    // one event-loop turn at a time would wait for hundreds of others' answers first.
    for (int i = 0; i < 256 && !stopping; ++i) {
      beast::error_code aec;
      tcp::socket more(net::make_strand(*iocs[next_ioc++ % iocs.size()]));
      acc.accept(more, aec);  // non-blocking: the acceptor is set so in Start()
      if (aec) break;
      std::make_shared<Session>(std::move(more), this)->Run();
    }
    Accept(acc);
  });
}

std::optional<Response> HttpServer::Impl::Route(const Request& req, const CompiledRoute** route,
                                                Params* params) {
  *route = nullptr;
  auto target = boost::urls::parse_origin_form(req.target());
  if (!target) return ErrorResponse(http::status::bad_request, "Malformed request target");
  for (auto qp : target->params()) params->query[std::string(qp.key)] = std::string(qp.value);
  std::vector<std::string> segs;
  for (auto seg : target->segments()) segs.emplace_back(seg);
  std::string path = "/";
  for (size_t i = 0; i < segs.size(); ++i) path += (i ? "/" : "") + segs[i];

  if (req.method() == http::verb::options) {  // CORS preflight: no auth
    Response res{http::status::no_content, 11};
    res.set(http::field::access_control_allow_methods, "GET, POST, DELETE, OPTIONS");
    res.set(http::field::access_control_allow_headers, "Authorization, Content-Type");
    res.set(http::field::access_control_max_age, "600");
    return res;
  }
  bool path_matched = false;
  const CompiledRoute* found = nullptr;
  Params found_params;
  for (const auto& r : routes) {
    Params p = *params;
    if (!Match(r, segs, &p)) continue;
    path_matched = true;
    if (r.route.method != req.method()) continue;
    found = &r;
    found_params = std::move(p);
    break;
  }
  bool public_path = req.method() == http::verb::get && path == "/healthz";
  if (!opts.token.empty() && !public_path) {
    bool ok = ConstantTimeEquals(req[http::field::authorization], "Bearer " + opts.token);
    // EventSource and WebSocket clients in browsers cannot set headers.
    if (!ok && found && found->route.stream) ok = ConstantTimeEquals(params->Query("token"), opts.token);
    if (!ok) {
      Response res = ErrorResponse(http::status::unauthorized, "Missing or invalid bearer token");
      res.set(http::field::www_authenticate, "Bearer");
      return res;
    }
  }
  if (!found) {
    if (path_matched) return ErrorResponse(http::status::method_not_allowed, "Method not allowed");
    return ErrorResponse(http::status::not_found, "Not Found");
  }
  *route = found;
  *params = std::move(found_params);
  return std::nullopt;
}

HttpServer::HttpServer(ServerOptions options, std::vector<Route> routes)
    : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(options);
  for (auto& r : routes) {
    CompiledRoute c{std::move(r), {}};
    c.segments = SplitPath(c.route.pattern);
    impl_->routes.push_back(std::move(c));
  }
}

HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(0)); }

Status HttpServer::Start() {
  int n = impl_->opts.threads > 0 ? impl_->opts.threads
                                  : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  for (int i = 0; i < n; ++i) impl_->iocs.push_back(std::make_unique<net::io_context>(1));
  for (const auto& spec : impl_->opts.listen) {
    auto ep = ParseListen(spec);
    if (!ep.has_value()) return ep.error();
    auto acc = std::make_unique<tcp::acceptor>(*impl_->iocs[0]);
    boost::system::error_code ec;
    acc->open(ep->protocol(), ec);
    if (!ec) acc->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec && ep->address().is_v6()) acc->set_option(net::ip::v6_only(true), ec);
    if (!ec) acc->bind(*ep, ec);
    if (!ec) acc->listen(net::socket_base::max_listen_connections, ec);
    if (!ec) acc->non_blocking(true, ec);
    if (ec) return Status::Unavailable("cannot listen on " + spec + ": " + ec.message());
    impl_->acceptors.push_back(std::move(acc));
  }
  for (auto& acc : impl_->acceptors) impl_->Accept(*acc);
  for (auto& ioc : impl_->iocs) {
    impl_->work.push_back(net::make_work_guard(*ioc));
    impl_->threads.emplace_back([ioc = ioc.get()] { ioc->run(); });
  }
  return Status::OK();
}

void HttpServer::Stop(std::chrono::milliseconds grace) {
  if (impl_->threads.empty()) return;
  impl_->stopping = true;
  net::post(*impl_->iocs[0], [this] {
    for (auto& acc : impl_->acceptors) {
      boost::system::error_code ec;
      acc->close(ec);
    }
  });
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    impl_->cv.wait_for(lock, grace, [this] { return impl_->in_flight == 0; });
  }
  impl_->work.clear();
  for (auto& ioc : impl_->iocs) ioc->stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

std::vector<std::string> HttpServer::bound() const {
  std::vector<std::string> out;
  for (const auto& acc : impl_->acceptors) {
    boost::system::error_code ec;
    auto ep = acc->local_endpoint(ec);
    if (ec) continue;
    std::string host = ep.address().to_string();
    if (ep.address().is_v6()) host = "[" + host + "]";
    out.push_back(host + ":" + std::to_string(ep.port()));
  }
  return out;
}

std::vector<uint16_t> HttpServer::ports() const {
  std::vector<uint16_t> out;
  for (const auto& acc : impl_->acceptors) {
    boost::system::error_code ec;
    auto ep = acc->local_endpoint(ec);
    if (!ec) out.push_back(ep.port());
  }
  return out;
}

}  // namespace modeld::api
