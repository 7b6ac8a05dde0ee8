#include "cli/jobs.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "cli/server_client.h"
#include "core/fs.h"
#include "core/time_format.h"
#include "service/open.h"

namespace modeld::cli {

namespace {

using nlohmann::json;

struct Row {
  std::string id, model, state, error;
  uint64_t done = 0;
  std::optional<uint64_t> total;
  int64_t updated_at = 0;
};

bool Finished(const std::string& state) {
  return state == "completed" || state == "failed" || state == "cancelled";
}

json RowJson(const Row& r) {
  json j = {{"id", r.id}, {"model", r.model}, {"state", r.state}, {"bytes_done", r.done}};
  j["bytes_total"] = r.total ? json(*r.total) : json(nullptr);
  if (!r.error.empty()) j["error"] = r.error;
  if (r.updated_at) j["updated_at"] = r.updated_at;
  return j;
}

void Print(const std::vector<Row>& rows, bool as_json) {
  if (as_json) {
    json arr = json::array();
    for (const auto& r : rows) arr.push_back(RowJson(r));
    std::string s = json{{"jobs", arr}}.dump(2) + "\n";
    std::fwrite(s.data(), 1, s.size(), stdout);
    return;
  }
  if (rows.empty()) {
    std::printf("no download jobs\n");
    return;
  }
  std::printf("%-18s %-40s %-12s %21s  %s\n", "ID", "MODEL", "STATE", "PROGRESS", "ERROR");
  for (const auto& r : rows) {
    std::string progress = HumanBytes(r.done) + (r.total ? " / " + HumanBytes(*r.total) : "");
    std::printf("%-18s %-40s %-12s %21s  %s\n", r.id.c_str(), r.model.c_str(), r.state.c_str(),
                progress.c_str(), r.error.substr(0, 100).c_str());
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "modeld jobs: %s\n", s.message().c_str());
  return ExitCodeFor(s);
}

int ThroughServer(const JobsArgs& args, const ServerClient& server) {
  auto list = server.Get("/model-download");
  if (list.status != 200 || !list.body.contains("downloads")) {
    return Fail(Status::Unavailable("the server at " + server.base() + " did not list its jobs"));
  }
  std::vector<Row> rows;
  for (const auto& d : list.body["downloads"]) {
    Row r;
    r.id = d.value("download_id", "");
    r.model = d.value("model_name", "") + ":" + d.value("version", "");
    r.state = d.value("state", d.value("status", ""));
    r.error = d.value("error", "");
    const auto& p = d.contains("progress") ? d["progress"] : json::object();
    r.done = static_cast<uint64_t>(p.value("downloaded_mb", 0.0) * 1e6);
    if (p.value("total_mb", 0.0) > 0)
      r.total = static_cast<uint64_t>(p.value("total_mb", 0.0) * 1e6);
    rows.push_back(std::move(r));
  }
  std::vector<std::string> ids = args.remove;
  if (args.remove_finished) {
    for (const auto& r : rows) {
      if (Finished(r.state)) ids.push_back(r.id);
    }
  }
  if (ids.empty() && !args.remove_finished) {
    Print(rows, args.json);
    return kExitOk;
  }
  int rc = kExitOk;
  for (const auto& id : ids) {
    auto reply = server.Delete("/model-download/" + id);
    if (reply.status == 200) {
      std::printf("removed %s\n", id.c_str());
    } else {
      std::string why =
          reply.body.is_object() ? reply.body.value("detail", reply.error) : reply.error;
      std::fprintf(stderr, "modeld jobs rm %s: %s\n", id.c_str(), why.c_str());
      rc = reply.status == 404 ? kExitNotFound : kExitInternal;
    }
  }
  return rc;
}

}  // namespace

int RunJobs(const JobsArgs& args) {
  if (!args.local) {
    if (auto server = ServerClient::Discover()) return ThroughServer(args, *server);
  }
  auto svc = service::OpenService(args.data_dir);
  if (!svc.has_value()) return Fail(svc.error());
  auto records = (*svc)->JobRecords();
  if (!records.has_value()) return Fail(records.error());
  std::vector<std::string> ids = args.remove;
  if (args.remove_finished) {
    for (const auto& r : *records) {
      if (Finished(r.state)) ids.push_back(r.id);
    }
  }
  if (ids.empty() && !args.remove_finished) {
    std::vector<Row> rows;
    for (const auto& rec : *records) {
      rows.push_back({rec.id, rec.model, rec.state, rec.error, rec.bytes_done, rec.bytes_total,
                      rec.updated_at});
    }
    Print(rows, args.json);
    return kExitOk;
  }
  int rc = kExitOk;
  for (const auto& id : ids) {
    if (Status s = (*svc)->RemoveJobRecord(id); !s.ok()) {
      std::fprintf(stderr, "modeld jobs rm %s: %s\n", id.c_str(), s.message().c_str());
      rc = ExitCodeFor(s);
    } else {
      std::printf("removed %s\n", id.c_str());
    }
  }
  return rc;
}

}  // namespace modeld::cli
