#include "api/streams.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <optional>

#include "core/mutex.h"

namespace modeld::api {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

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
  void Send(const std::string& key, std::string data) override EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      if (closed_ || closing_) return;
      queue_.Push(key, std::move(data));
    }
    Kick();
  }
  void Close() override EXCLUDES(mu_) {
    {
      MutexLock lock(&mu_);
      closing_ = true;
    }
    Kick();
  }
  bool closed() const override EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    return closed_;
  }
  void OnClose(std::function<void()> fn) override EXCLUDES(mu_) {
    bool now = false;
    {
      MutexLock lock(&mu_);
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
  std::optional<std::string> Next(bool* finish) EXCLUDES(mu_) {
    MutexLock lock(&mu_);
    *finish = false;
    if (closed_) return std::nullopt;
    if (!queue_.empty()) return queue_.Pop();
    if (closing_) *finish = true;
    return std::nullopt;
  }
  void Finished() EXCLUDES(mu_) {
    std::function<void()> fn;
    {
      MutexLock lock(&mu_);
      if (closed_) return;
      closed_ = true;
      fn = std::move(on_close_);
    }
    if (fn) fn();
  }

 private:
  mutable Mutex mu_;
  CoalescingQueue queue_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  bool closed_ GUARDED_BY(mu_) = false;
  std::function<void()> on_close_ GUARDED_BY(mu_);
};

// A streamed body (Server-Sent Events, NDJSON): a 200 with its content type, then each
// message as written; the body ends when the connection closes.
class BodyStream : public StreamBase, public std::enable_shared_from_this<BodyStream> {
 public:
  BodyStream(beast::tcp_stream&& s, std::shared_ptr<void> keep)
      : stream_(std::move(s)), keep_(std::move(keep)) {}
  void Start(const std::string& content_type, const std::vector<std::string>& extra_headers) {
    stream_.expires_never();
    current_ = "HTTP/1.1 200 OK\r\nContent-Type: " + content_type +
               "\r\nCache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n"
               "Server: modeld\r\n";
    for (const auto& h : extra_headers) current_ += h + "\r\n";
    current_ += "\r\n";
    // SSE clients take a comment as a sign of life; NDJSON has none.
    if (content_type == "text/event-stream") current_ += ": modeld event stream\n\n";
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
  std::shared_ptr<void> keep_;
  std::string current_;
  bool writing_ = false;
  char rbuf_[64];
};

// A WebSocket: every message a text frame; what the client sends is read and dropped.
class WsStream : public StreamBase, public std::enable_shared_from_this<WsStream> {
 public:
  WsStream(beast::tcp_stream&& s, std::shared_ptr<void> keep)
      : ws_(std::move(s)), keep_(std::move(keep)) {}
  void Start(Request req) {
    ws_.set_option(beast::websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(beast::websocket::stream_base::decorator(
        [](beast::websocket::response_type& res) { res.set(http::field::server, "modeld"); }));
    ws_.read_message_max(64 * 1024);
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
  std::shared_ptr<void> keep_;
  Request req_;
  std::string current_;
  beast::flat_buffer rbuf_;
  bool accepted_ = false;
  bool writing_ = false;
};

}  // namespace

std::shared_ptr<EventStream> StartBodyStream(beast::tcp_stream&& stream,
                                             const std::string& content_type,
                                             const std::vector<std::string>& extra_headers,
                                             std::shared_ptr<void> keep) {
  auto body = std::make_shared<BodyStream>(std::move(stream), std::move(keep));
  body->Start(content_type, extra_headers);
  return body;
}

std::shared_ptr<EventStream> StartWebSocket(beast::tcp_stream&& stream, Request req,
                                            std::shared_ptr<void> keep) {
  auto ws = std::make_shared<WsStream>(std::move(stream), std::move(keep));
  ws->Start(std::move(req));
  return ws;
}

}  // namespace modeld::api
