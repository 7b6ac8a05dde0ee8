// Following a job from a request: "answer when the job ends" (the generic API's wait=true,
// LM Studio's and Ollama's blocking calls) and "stream one job's events until the client
// goes away" (SSE, NDJSON, WebSocket).
//
// Thread safety: both are safe from any thread; the callbacks run on the thread that
// published the event (a download thread) or on the caller's, one at a time per call,
// and must not block.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "api/route.h"
#include "service/job_manager.h"

namespace modeld::api {

// Calls |done| once, with the job as it ended (NotFound if there is no such job): at once
// if it has already ended, else when its terminal event is published.
void WhenJobEnds(service::JobManager& jobs, const std::string& id,
                 std::function<void(Result<service::Job>)> done);

// Calls |on_event| with |stream| and the job's latest event, then with each new one of
// job |id|, until it returns false (then |stream| is closed) or the client goes away
// (|stream| closes: the subscription ends). Subscribes before reading the latest event, so
// no event falls between. NotFound (nothing subscribed) for an unknown job.
// The subscription holds |stream| weakly (and |on_event| must not hold it at all): a
// stream belongs to its connection, and a publisher that still runs when the server goes
// must never be the one to destroy it (a WebSocket stream's destructor needs the server's
// io_context).
Status FollowJob(service::JobManager& jobs, const std::string& id,
                 std::shared_ptr<EventStream> stream,
                 std::function<bool(EventStream&, const service::JobEvent&)> on_event);

// Subscribes |on_event| to every job's events for as long as |stream| is open, holding
// |stream| weakly (as FollowJob does). |on_event| must not hold the stream. |removals|:
// also the events saying a job was forgotten (JobEvent::removed).
void FollowAllJobs(service::JobManager& jobs, const std::shared_ptr<EventStream>& stream,
                   std::function<void(EventStream&, const service::JobEvent&)> on_event,
                   bool removals = false);

}  // namespace modeld::api
