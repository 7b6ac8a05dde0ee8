// HttpServer::Impl: the state the listener (http_server.cc) and its connections
// (session.cc) share. Internal to src/api; nothing outside the server includes it.
//
// Ownership: HttpServer owns one Impl; sessions hold a raw pointer to it and to their
// Listener, both of which outlive every session (Stop joins the I/O threads first).
// Threads: the atomics are touched from any I/O thread; |in_flight| under |mu|; the rest
// is written in Start() before the I/O threads run and only read afterwards.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "api/access_policy.h"
#include "api/http_server.h"
#include "api/router.h"
#include "api/work_pool.h"
#include "core/mutex.h"

namespace modeld::api {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

struct HttpServer::Impl {
  explicit Impl(ServerOptions o, std::vector<Dialect> d)
      : opts(std::move(o)),
        dialects(std::move(d)),
        http_requests((opts.metrics ? *opts.metrics : metrics::DefaultRegistry())
                          .AddCounter("modeld_http_requests_total",
                                      "HTTP requests answered, by route pattern (\"none\": no "
                                      "route matched), method and status.",
                                      {"route", "method", "status"})),
        http_latency((opts.metrics ? *opts.metrics : metrics::DefaultRegistry())
                         .AddHistogram("modeld_http_request_duration_seconds",
                                       "Time from a request's header to its answer, in seconds, "
                                       "by route pattern, method and status.",
                                       {"route", "method", "status"}, metrics::LatencyBuckets())) {}

  ServerOptions opts;
  std::vector<Dialect> dialects;
  metrics::CounterFamily& http_requests;
  metrics::HistogramFamily& http_latency;
  std::unique_ptr<AccessPolicy> policy;  // set in Start(), from the bound addresses
  int max_connections = 0;

  // Counters outlive the sessions (declared before the io_contexts that own them).
  std::atomic<int> connections{0};
  std::atomic<int> overflow{0};
  std::atomic<int> reserve_fd{-1};
  std::atomic<bool> stopping{false};
  Mutex mu;
  CondVar cv;
  int in_flight GUARDED_BY(mu) = 0;  // requests being handled or written

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

// Serves one accepted connection until it closes or turns into an event stream. |slot|
// counts the connection while it lives; |overflow|: past the connection cap, so it gets
// one answer (503, or /healthz's 200) and closes.
void RunSession(tcp::socket&& socket, HttpServer::Impl* server,
                HttpServer::Impl::Listener* listener, std::shared_ptr<void> slot, bool overflow);

}  // namespace modeld::api
