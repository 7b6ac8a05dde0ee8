// FileSend: writes one file answer (route.h's FileReply) to a connection: the head, then
// the bytes with sendfile(2) from the source as they become readable. A client that takes
// nothing for kStall is dropped. One that hangs up while the bytes are still arriving (a
// mirror streaming a file as it downloads) is noticed at once: the socket is watched for
// its end while the source is waited on, so the connection does not wait for the bytes.
//
// Ownership: a FileSend keeps itself alive through its pending handlers, and keeps its
// |owner| (the connection that owns |stream|) alive as long as it lives.
// Threads: Start and every handler run on the connection's strand; the source's
// WhenReadable callback, from any thread, only posts to that strand.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "core/file_source.h"

namespace modeld::api {

class FileSend : public std::enable_shared_from_this<FileSend> {
 public:
  using Head = boost::beast::http::response<boost::beast::http::empty_body>;
  // Called once, on the strand: true when every byte was sent, false when the answer was
  // cut short (the client went or stalled, the source failed); the connection must then
  // close.
  using Done = std::function<void(bool ok)>;

  // A client that takes no byte for this long is dropped.
  static constexpr auto kStall = std::chrono::seconds(60);

  // Writes |head| (its Content-Length already end - offset), then [offset, end) of
  // |source|, to |stream|, which |owner| owns; then calls |done|.
  static void Start(boost::beast::tcp_stream& stream, std::shared_ptr<void> owner, Head head,
                    std::shared_ptr<FileSource> source, uint64_t offset, uint64_t end, Done done);

  FileSend(boost::beast::tcp_stream& stream, std::shared_ptr<void> owner, Head head,
           std::shared_ptr<FileSource> source, uint64_t offset, uint64_t end, Done done);

 private:
  void WriteHead();
  // Sends what the source has, then waits for the socket or the source.
  void Pump();
  void WaitWritable();
  // Watches for the client's end (EOF or a reset) until the answer is done.
  void WatchHangUp();
  void Finish(bool ok);

  static constexpr uint64_t kChunk = 4 << 20;

  boost::beast::tcp_stream& stream_;
  std::shared_ptr<void> owner_;
  Head head_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::empty_body>>
      serializer_;
  std::shared_ptr<FileSource> source_;  // released when finished (it may hold a file open)
  uint64_t pos_, end_;
  Done done_;
  std::optional<boost::asio::steady_timer> stall_timer_;
  bool finished_ = false;
};

}  // namespace modeld::api
