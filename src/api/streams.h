// The two kinds of EventStream the server hands to stream routes: Server-Sent Events on
// a plain response, and a WebSocket. Internal to api/: routes see only EventStream.
//
// Each stream owns its connection (moved out of the HTTP session) and writes one message
// at a time on that connection's strand, from a queue in which progress coalesces per
// key; state changes (empty key) are never dropped. A reader that does not read slows
// nobody: its queue holds at most one message per key.
//
// Thread safety: EventStream's methods are safe from any thread.
#pragma once

#include <boost/beast/core/tcp_stream.hpp>
#include <memory>
#include <string>

#include "api/route.h"

namespace modeld::api {

// Starts an SSE stream: writes the 200 header (with |extra_headers|, each "Name: value")
// and then each message as sent. |keep| lives as long as the connection (a slot).
std::shared_ptr<EventStream> StartSse(boost::beast::tcp_stream&& stream,
                                      const std::vector<std::string>& extra_headers,
                                      std::shared_ptr<void> keep,
                                      const std::function<void(std::shared_ptr<EventStream>)>& attach);

// Accepts the WebSocket upgrade in |req|, then writes each message as a text frame.
std::shared_ptr<EventStream> StartWebSocket(boost::beast::tcp_stream&& stream, Request req,
                                            std::shared_ptr<void> keep,
                                            const std::function<void(std::shared_ptr<EventStream>)>& attach);

}  // namespace modeld::api
