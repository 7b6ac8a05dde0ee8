// modeld_bench_loadgen: a fixed-rate (open-loop) HTTP/1.1 load generator for bench/serve.sh.
//
// Why not hey: hey -c 1000 -q 1 gives each worker its own ticker, all started together, so
// the 1,000 requests of a second leave in one burst; and its workers share one connection
// pool that keeps at most 500 idle connections, so half the requests open a new connection
// (measured: 10,000 requests opened 5,262 connections). What it then measures at 1,000
// "connections" is its own bursts and connects: nginx serving 70 bytes showed p50 252 ms,
// p99 1.27 s. wrk is a closed loop (as fast as possible), which measures saturation.
//
// This one opens N keep-alive connections first, then sends request k at t0 + k/R on
// connection k mod N: a steady R requests a second spread evenly over the connections.
// A request whose connection is still busy waits for it (HTTP/1.1, no pipelining), and its
// latency counts from when it was due, not when it was sent, so a slow server cannot slow
// the generator down and hide its own slowness (no coordinated omission).
//
//   modeld_bench_loadgen --port P --connections N --rate R [--host H] [--header 'K: V']...
//                        [--target /path --seconds S]
// Without --target: connects, prints "ready N" on stdout, then reads "go /path" from stdin,
// runs until stdin says "stop" (or closes), waits up to --drain seconds for the answers due,
// and prints one JSON line of results. With --target and --seconds it runs on its own.
// Single-threaded (one event loop), so it takes at most one core.
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 50;
  double rate = 1000;
  std::string target;
  double seconds = 0;
  double drain = 10;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct Stats {
  std::vector<double> latency_ms;  // from when each request was due
  std::vector<double> service_ms;  // from when it was sent
  uint64_t due = 0, sent = 0, completed = 0, non2xx = 0, errors = 0, late = 0, connects = 0;
};

class Generator;

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(asio::io_context& io, Generator& g) : sock_(io), g_(g) {}
  void Connect(std::function<void(bool)> done);
  void Enqueue(Clock::time_point due);
  bool Idle() const { return pending_.empty(); }
  size_t Pending() const { return pending_.size(); }
  void Close() {
    beast::error_code ec;
    sock_.close(ec);
  }

 private:
  void SendNext();
  void Fail();
  tcp::socket sock_;
  Generator& g_;
  beast::flat_buffer buf_;
  http::request<http::empty_body> req_;
  std::unique_ptr<http::response<http::string_body>> res_;
  std::deque<Clock::time_point> pending_;
  Clock::time_point sent_at_;
  bool busy_ = false, connected_ = false;
};

class Generator {
 public:
  Generator(asio::io_context& io, Options o)
      : io_(io), o_(std::move(o)), timer_(io), drain_timer_(io) {
    endpoint_ = tcp::endpoint(asio::ip::make_address(o_.host), static_cast<uint16_t>(o_.port));
  }

  const Options& opts() const { return o_; }
  Stats& stats() { return stats_; }
  const tcp::endpoint& endpoint() const { return endpoint_; }
  std::string target() const { return target_; }
  bool stopping() const { return stopping_; }

  void Start() {
    for (int i = 0; i < o_.connections; ++i) conns_.push_back(std::make_shared<Conn>(io_, *this));
    ConnectSome();
  }

  // Called by a connection when a queue drains; finishes once all are idle after stop.
  void MaybeFinish() {
    if (!stopping_ || finished_) return;
    for (auto& c : conns_) {
      if (!c->Idle()) return;
    }
    Finish();
  }

 private:
  void ConnectSome() {  // at most 64 connects in flight: no SYN backlog overflow
    while (next_connect_ < conns_.size() && connecting_ < 64) {
      ++connecting_;
      conns_[next_connect_++]->Connect([this](bool ok) {
        --connecting_;
        if (!ok) {
          std::fprintf(stderr, "loadgen: connect to %s:%d failed\n", o_.host.c_str(), o_.port);
          std::exit(2);
        }
        if (++connected_ == conns_.size()) return Ready();
        ConnectSome();
      });
    }
  }

  void Ready() {
    if (!o_.target.empty()) {
      Go(o_.target);
      timer_stop_ = std::make_unique<asio::steady_timer>(io_);
      timer_stop_->expires_after(
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.seconds)));
      timer_stop_->async_wait([this](beast::error_code) { Stop(); });
      return;
    }
    in_ = std::make_unique<asio::posix::stream_descriptor>(io_, ::dup(0));  // a pipe
    std::printf("ready %zu\n", conns_.size());
    std::fflush(stdout);
    ReadCommand();
  }

  void ReadCommand() {
    asio::async_read_until(*in_, line_, '\n', [this](beast::error_code ec, size_t n) {
      if (ec) return Stop();  // stdin closed
      std::string cmd(static_cast<const char*>(line_.data().data()), n);
      line_.consume(n);
      while (!cmd.empty() && (cmd.back() == '\n' || cmd.back() == '\r')) cmd.pop_back();
      if (cmd.rfind("go ", 0) == 0 && target_.empty()) {
        Go(cmd.substr(3));
      } else if (cmd == "stop") {
        return Stop();
      }
      ReadCommand();
    });
  }

  void Go(const std::string& target) {
    target_ = target;
    interval_ = std::chrono::duration<double>(1.0 / o_.rate);
    t0_ = Clock::now();
    Tick();
  }

  void Tick() {
    if (stopping_) return;
    auto now = Clock::now();
    // Every request due by now (several when the loop was late), each on its connection.
    for (;;) {
      auto due = t0_ + std::chrono::duration_cast<Clock::duration>(interval_ * double(k_));
      if (due > now) {
        timer_.expires_at(due);
        timer_.async_wait([this](beast::error_code ec) {
          if (!ec) Tick();
        });
        return;
      }
      ++stats_.due;
      conns_[k_ % conns_.size()]->Enqueue(due);
      ++k_;
    }
  }

  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    stop_at_ = Clock::now();
    timer_.cancel();
    drain_timer_.expires_after(
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.drain)));
    drain_timer_.async_wait([this](beast::error_code ec) {
      if (!ec) Finish();
    });
    MaybeFinish();
  }

  static double Pct(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * double(v.size())));
    return v[i];
  }

  void Finish() {
    finished_ = true;
    uint64_t unanswered = 0;
    for (auto& c : conns_) unanswered += c->Pending();
    auto& l = stats_.latency_ms;
    auto& s = stats_.service_ms;
    std::sort(l.begin(), l.end());
    std::sort(s.begin(), s.end());
    double secs =
        t0_ == Clock::time_point{} ? 0 : std::chrono::duration<double>(stop_at_ - t0_).count();
    std::printf(
        "{\"connections\": %zu, \"rate\": %.1f, \"seconds\": %.3f, \"due\": %llu, \"sent\": %llu, "
        "\"completed\": %llu, \"achieved_rps\": %.1f, \"non2xx\": %llu, \"errors\": %llu, "
        "\"unanswered\": %llu, \"connects\": %llu, \"late_sends\": %llu, "
        "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, \"p999_ms\": %.3f, \"max_ms\": "
        "%.3f, "
        "\"service_p50_ms\": %.3f, \"service_p99_ms\": %.3f, \"service_max_ms\": %.3f}\n",
        conns_.size(), o_.rate, secs, (unsigned long long)stats_.due,
        (unsigned long long)stats_.sent, (unsigned long long)stats_.completed,
        secs > 0 ? double(stats_.completed) / secs : 0.0, (unsigned long long)stats_.non2xx,
        (unsigned long long)stats_.errors, (unsigned long long)unanswered,
        (unsigned long long)stats_.connects, (unsigned long long)stats_.late, Pct(l, 50),
        Pct(l, 90), Pct(l, 99), Pct(l, 99.9), l.empty() ? 0.0 : l.back(), Pct(s, 50), Pct(s, 99),
        s.empty() ? 0.0 : s.back());
    std::fflush(stdout);
    for (auto& c : conns_) c->Close();
    io_.stop();
  }

  asio::io_context& io_;
  Options o_;
  tcp::endpoint endpoint_;
  std::vector<std::shared_ptr<Conn>> conns_;
  size_t next_connect_ = 0, connecting_ = 0, connected_ = 0;
  asio::steady_timer timer_, drain_timer_;
  std::unique_ptr<asio::steady_timer> timer_stop_;
  std::unique_ptr<asio::posix::stream_descriptor> in_;
  asio::streambuf line_;
  std::string target_;
  std::chrono::duration<double> interval_{};
  Clock::time_point t0_{}, stop_at_{};
  uint64_t k_ = 0;
  bool stopping_ = false, finished_ = false;
  Stats stats_;
};

void Conn::Connect(std::function<void(bool)> done) {
  ++g_.stats().connects;
  sock_.async_connect(g_.endpoint(), [self = shared_from_this(), done](beast::error_code ec) {
    if (!ec) {
      self->sock_.set_option(tcp::no_delay(true));
      self->connected_ = true;
    }
    done(!ec);
  });
}

void Conn::Enqueue(Clock::time_point due) {
  pending_.push_back(due);
  if (!busy_ && connected_) SendNext();
}

void Conn::SendNext() {
  if (pending_.empty()) return g_.MaybeFinish();
  busy_ = true;
  sent_at_ = Clock::now();
  if (sent_at_ - pending_.front() > std::chrono::milliseconds(10)) ++g_.stats().late;
  ++g_.stats().sent;
  req_ = {};
  req_.method(http::verb::get);
  req_.target(g_.target());
  req_.version(11);
  req_.set(http::field::host, g_.opts().host + ":" + std::to_string(g_.opts().port));
  for (const auto& [k, v] : g_.opts().headers) req_.set(k, v);
  req_.keep_alive(true);
  http::async_write(sock_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
    if (ec) return self->Fail();
    self->res_ = std::make_unique<http::response<http::string_body>>();
    http::async_read(self->sock_, self->buf_, *self->res_, [self](beast::error_code ec2, size_t) {
      if (ec2) return self->Fail();
      auto now = Clock::now();
      auto& st = self->g_.stats();
      st.latency_ms.push_back(
          std::chrono::duration<double, std::milli>(now - self->pending_.front()).count());
      st.service_ms.push_back(
          std::chrono::duration<double, std::milli>(now - self->sent_at_).count());
      ++st.completed;
      if (self->res_->result_int() / 100 != 2) ++st.non2xx;
      self->pending_.pop_front();
      self->busy_ = false;
      if (!self->res_->keep_alive()) {  // the server closed: a new connection
        self->Close();
        self->sock_ = tcp::socket(self->sock_.get_executor());
        self->buf_.clear();
        self->connected_ = false;
        return self->Connect([self](bool ok) {
          if (!ok) {
            std::fprintf(stderr, "loadgen: reconnect failed\n");
            std::exit(2);
          }
          self->SendNext();
        });
      }
      self->SendNext();
    });
  });
}

void Conn::Fail() {  // the request in flight failed: count it, reconnect, go on
  ++g_.stats().errors;
  if (!pending_.empty()) pending_.pop_front();
  busy_ = false;
  Close();
  sock_ = tcp::socket(sock_.get_executor());
  buf_.clear();
  connected_ = false;
  if (g_.stopping() && pending_.empty()) return g_.MaybeFinish();
  Connect([self = shared_from_this()](bool ok) {
    if (!ok) {
      std::fprintf(stderr, "loadgen: reconnect failed\n");
      std::exit(2);
    }
    self->SendNext();
  });
}

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: modeld_bench_loadgen --port P [--host H] [--connections N] [--rate R]\n"
               "         [--header 'K: V']... [--drain S] [--target /path --seconds S]\n");
  std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage();
      return argv[++i];
    };
    if (a == "--host")
      o.host = next();
    else if (a == "--port")
      o.port = std::atoi(next().c_str());
    else if (a == "--connections")
      o.connections = std::atoi(next().c_str());
    else if (a == "--rate")
      o.rate = std::atof(next().c_str());
    else if (a == "--target")
      o.target = next();
    else if (a == "--seconds")
      o.seconds = std::atof(next().c_str());
    else if (a == "--drain")
      o.drain = std::atof(next().c_str());
    else if (a == "--header") {
      std::string h = next();
      auto colon = h.find(':');
      if (colon == std::string::npos) Usage();
      std::string v = h.substr(colon + 1);
      v.erase(0, v.find_first_not_of(' '));
      o.headers.emplace_back(h.substr(0, colon), v);
    } else
      Usage();
  }
  if (o.port <= 0 || o.connections <= 0 || o.rate <= 0 || (!o.target.empty() && o.seconds <= 0))
    Usage();
  asio::io_context io(1);
  Generator g(io, o);
  g.Start();
  io.run();
  return 0;
}
