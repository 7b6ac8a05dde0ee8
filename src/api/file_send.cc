#include "api/file_send.h"

#include <sys/sendfile.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cerrno>

namespace modeld::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

void FileSend::Start(beast::tcp_stream& stream, std::shared_ptr<void> owner, Head head,
                     std::shared_ptr<FileSource> source, uint64_t offset, uint64_t end, Done done) {
  std::make_shared<FileSend>(stream, std::move(owner), std::move(head), std::move(source), offset,
                             end, std::move(done))
      ->WriteHead();
}

FileSend::FileSend(beast::tcp_stream& stream, std::shared_ptr<void> owner, Head head,
                   std::shared_ptr<FileSource> source, uint64_t offset, uint64_t end, Done done)
    : stream_(stream),
      owner_(std::move(owner)),
      head_(std::move(head)),
      source_(std::move(source)),
      pos_(offset),
      end_(end),
      done_(std::move(done)) {}

void FileSend::WriteHead() {
  serializer_.emplace(head_);
  stream_.expires_after(std::chrono::seconds(30));
  auto self = shared_from_this();
  http::async_write_header(stream_, *serializer_, [self](beast::error_code ec, size_t) {
    if (ec) return self->Finish(false);
    self->stream_.expires_never();
    beast::error_code nb;
    self->stream_.socket().native_non_blocking(true, nb);
    if (nb) return self->Finish(false);
    self->WatchHangUp();
    self->Pump();
  });
}

void FileSend::Pump() {
  if (finished_) return;
  for (int round = 0; round < 8; ++round) {
    if (pos_ >= end_) return Finish(true);
    if (source_->failed()) return Finish(false);
    uint64_t n = source_->Readable(pos_, end_);
    if (n == 0) {
      auto self = shared_from_this();
      source_->WhenReadable(pos_, end_, [self, ex = stream_.get_executor()]() {
        net::post(ex, [self]() { self->Pump(); });
      });
      return;
    }
    off_t off = static_cast<off_t>(pos_);
    ssize_t w = ::sendfile(stream_.socket().native_handle(), source_->fd(), &off,
                           static_cast<size_t>(std::min<uint64_t>(n, kChunk)));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return WaitWritable();
    if (w <= 0) return Finish(false);  // the client went, or the file is short
    pos_ += static_cast<uint64_t>(w);
  }
  // Other work on this strand gets its turn.
  net::post(stream_.get_executor(), [self = shared_from_this()]() { self->Pump(); });
}

void FileSend::WaitWritable() {
  auto self = shared_from_this();
  if (!stall_timer_) stall_timer_.emplace(stream_.get_executor());
  stall_timer_->expires_after(kStall);
  stall_timer_->async_wait([self](beast::error_code ec) {
    if (!ec && !self->finished_) self->stream_.socket().cancel();
  });
  stream_.socket().async_wait(tcp::socket::wait_write, [self](beast::error_code ec) {
    if (self->finished_) return;
    self->stall_timer_->cancel();
    if (ec) return self->Finish(false);
    self->Pump();
  });
}

void FileSend::WatchHangUp() {
  auto self = shared_from_this();
  stream_.socket().async_wait(tcp::socket::wait_read, [self](beast::error_code ec) {
    if (self->finished_) return;
    if (ec) return self->Finish(false);  // cancelled by the stall timer, or closed
    char byte;
    ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return self->Finish(false);  // the client's end: it hung up
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return self->Finish(false);  // reset
    // Its next request, sent ahead (pipelining): read after this answer, so the watch
    // ends here; a hang-up is then noticed by the next write.
    if (n > 0) return;
    self->WatchHangUp();  // woken for nothing
  });
}

void FileSend::Finish(bool ok) {
  if (finished_) return;
  finished_ = true;
  source_.reset();
  if (stall_timer_) stall_timer_->cancel();
  beast::error_code nb;
  stream_.socket().native_non_blocking(false, nb);
  Done done = std::move(done_);
  done(ok && !nb);
}

}  // namespace modeld::api
