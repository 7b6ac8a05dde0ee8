// The listeners: binding, accepting (with the connection cap, the reserve descriptor and
// EMFILE back-off), the I/O threads, and stopping. A connection's requests: session.cc.
#include "api/http_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>

#include "api/dialect.h"
#include "api/http_server_impl.h"
#include "core/log.h"

namespace modeld::api {

namespace {

// Connections past the cap that are still given an answer; beyond, they are closed.
constexpr int kMaxOverflow = 64;
constexpr auto kMaxAcceptBackoff = std::chrono::milliseconds(200);

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
  RunSession(std::move(socket), this, &l, Slot(over, false), over);
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
      RunSession(std::move(socket), this, &l, Slot(true, true), true);
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
    std::vector<std::string> names;
    for (const Dialect* d : spoken) names.push_back(d->name);
    l->router = std::make_unique<Router>(CombineRoutes(spoken), std::move(names));
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
      // sendfile(2) to a client that reset its connection raises SIGPIPE in this thread,
      // which would end the process (MSG_NOSIGNAL exists for send, not for sendfile):
      // blocked here, it stays pending and harmless, whatever the embedding program does.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
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
    MutexLock lock(&im.mu);
    im.cv.WaitFor(&im.mu, grace, [&im]() REQUIRES(im.mu) { return im.in_flight == 0; });
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
