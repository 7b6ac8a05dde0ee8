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

// Calls |on_event| with the job's latest event and then with each new one of job |id|,
// until it returns false (then |stream| is closed) or the client goes away (|stream|
// closes: the subscription ends). Subscribes before reading the latest event, so no event
// falls between. NotFound (nothing subscribed) for an unknown job.
Status FollowJob(service::JobManager& jobs, const std::string& id,
                 std::shared_ptr<EventStream> stream,
                 std::function<bool(const service::JobEvent&)> on_event);

}  // namespace modeld::api
