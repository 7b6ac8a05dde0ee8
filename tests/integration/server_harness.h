// A real server for API tests: store, ModelService (with a Resolver the test may
// configure), JobManager, the generic routes, on 127.0.0.1:0; plus helpers that wait on
// the event bus (never sleeping).
#pragma once

#include <gtest/gtest.h>

#include <condition_variable>
#include <nlohmann/json.hpp>

#include "api/generic/routes.h"
#include "api/http_server.h"
#include "engine_harness.h"
#include "http_client.h"
#include "service/pull_support.h"
#include "sources/resolver.h"

namespace modeld::testing {

class ServerHarness : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }
  using json = nlohmann::json;
  void TearDown() override { Stop(); }
  void Start(const std::string& token = "") {
    auto st = OpenTestStore(dir_.path());
    ASSERT_TRUE(st);
    models_ = std::make_unique<service::ModelService>(std::move(st), nullptr, resolver_);
    jobs_ = std::make_unique<service::JobManager>(*models_, 3);
    ctx_ = std::make_unique<api::generic::Context>(api::generic::Context{*models_, *jobs_, "test"});
    api::ServerOptions opts;
    opts.listen = {"127.0.0.1:0"};
    opts.token = token;
    opts.access_log = false;
    server_ = std::make_unique<api::HttpServer>(opts, api::generic::Routes(*ctx_));
    ASSERT_TRUE(server_->Start().ok());
    base_ = "http://127.0.0.1:" + std::to_string(server_->ports()[0]);
  }
  // In modeld serve's order (app/serve.cc): no handler runs after Stop; the job manager's
  // threads, which publish into event streams, end before the server (and its io_context,
  // which a WebSocket stream needs to be destroyed) goes.
  void Stop() {
    if (server_) server_->Stop(std::chrono::seconds(5));
    jobs_.reset();
    server_.reset();
    ctx_.reset();
    models_.reset();
  }
  // POSTs |body| to /model-download; returns {status, json}.
  std::pair<long, json> Post(const json& body, const std::string& query = "") {
    auto r = HttpCall("POST", base_ + "/model-download" + query, body.dump(),
                      {"Content-Type: application/json"});
    return {r.status, json::parse(r.body, nullptr, false)};
  }
  std::pair<long, json> Get(const std::string& path) {
    auto r = HttpCall("GET", base_ + path);
    return {r.status, json::parse(r.body, nullptr, false)};
  }
  // Waits (on the event bus, no sleeping) until job |id| is in a state |pred| accepts.
  bool WaitState(const std::string& id, const std::function<bool(const std::string&)>& pred) {
    return WaitJob(id, [&](const service::Job& job) {
      return pred(std::string(service::JobStateName(job.last.state)));
    });
  }
  // Waits (on the event bus, no sleeping) until job |id| is as |pred| wants it.
  bool WaitJob(const std::string& id, const std::function<bool(const service::Job&)>& pred) {
    std::mutex mu;
    std::condition_variable cv;
    auto sub = jobs_->events().Subscribe([&](const service::JobEvent& ev) {
      if (ev.job_id == id) {
        std::lock_guard<std::mutex> l(mu);
        cv.notify_all();
      }
    });
    std::unique_lock<std::mutex> l(mu);
    bool ok = cv.wait_for(l, std::chrono::seconds(60), [&] {
      auto job = jobs_->Get(id);
      return job.has_value() && pred(*job);
    });
    l.unlock();
    jobs_->events().Unsubscribe(sub);
    return ok;
  }
  // The progress a seed client sees once the job has ended.
  json PollUntilDone(const std::string& id) {
    EXPECT_TRUE(WaitState(
        id,
        [](const std::string& s) { return s == "completed" || s == "failed" || s == "cancelled"; }))
        << "download " << id << " never finished";
    auto [code, j] = Get("/model-download/" + id + "/progress");
    EXPECT_EQ(code, 200);
    return j;
  }

  ScratchDir dir_;
  std::shared_ptr<const sources::Resolver> resolver_;  // null: from the environment
  std::unique_ptr<service::ModelService> models_;
  std::unique_ptr<service::JobManager> jobs_;
  std::unique_ptr<api::generic::Context> ctx_;
  std::unique_ptr<api::HttpServer> server_;
  std::string base_;
};

}  // namespace modeld::testing
