// The two kinds of EventStream the server hands to stream routes: a streamed response
// body (Server-Sent Events, NDJSON), and a WebSocket. Internal to api/: routes see only
// EventStream.
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

// Starts a streamed response body: writes a 200 header with |content_type| (and
// |extra_headers|, each "Name: value"), then each message as sent; the body ends when the
// connection closes. |keep| lives as long as the connection (its slot).
// REQUIRES: called on |stream|'s strand, with no operation pending on it.
std::shared_ptr<EventStream> StartBodyStream(boost::beast::tcp_stream&& stream,
                                             const std::string& content_type,
                                             const std::vector<std::string>& extra_headers,
                                             std::shared_ptr<void> keep);

// Accepts the WebSocket upgrade in |req|, then writes each message as a text frame.
// REQUIRES: as above.
std::shared_ptr<EventStream> StartWebSocket(boost::beast::tcp_stream&& stream, Request req,
                                            std::shared_ptr<void> keep);

}  // namespace modeld::api
