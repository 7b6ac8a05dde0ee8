#include "store/jobs.h"

#include "core/json.h"

namespace modeld::store {

namespace {

constexpr const char* kJobColumns =
    "SELECT id, model, request, state, bytes_done, bytes_total, COALESCE(error, ''), created_at, "
    "updated_at, interrupted_runs, run_start_bytes FROM jobs ";

// The row |q| is on, selected with kJobColumns.
JobRecord ReadJob(const Stmt& q) {
  JobRecord j;
  j.id = q.Text(0);
  j.model = q.Text(1);
  j.request = ParseJsonOrDiscarded(q.Text(2));
  if (j.request.is_discarded()) {
    j.request = nlohmann::json::object();
  }
  j.state = q.Text(3);
  j.bytes_done = static_cast<uint64_t>(q.Int(4));
  if (!q.IsNull(5)) {
    j.bytes_total = static_cast<uint64_t>(q.Int(5));
  }
  j.error = q.Text(6);
  j.created_at = q.Int(7);
  j.updated_at = q.Int(8);
  j.interrupted_runs = static_cast<int>(q.Int(9));
  j.run_start_bytes = static_cast<uint64_t>(q.Int(10));
  return j;
}

}  // namespace

Status SaveJobRow(Db& db, const JobRecord& job, int64_t now) {
  auto q = db.Prepare(
      "INSERT INTO jobs(id, model, request, state, bytes_done, bytes_total, error, created_at, "
      "updated_at, interrupted_runs, run_start_bytes, seq) VALUES "
      "(?1,?2,?3,?4,?5,?6,?7,?8,?8,?9,?10,"
      "(SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs)) "
      "ON CONFLICT(id) DO UPDATE SET "
      "model=excluded.model, request=excluded.request, state=excluded.state, "
      "bytes_done=excluded.bytes_done, bytes_total=excluded.bytes_total, error=excluded.error, "
      "updated_at=excluded.updated_at, interrupted_runs=excluded.interrupted_runs, "
      "run_start_bytes=excluded.run_start_bytes");
  if (!q.has_value()) {
    return q.error();
  }
  std::optional<int64_t> total;
  if (job.bytes_total) {
    total = static_cast<int64_t>(*job.bytes_total);
  }
  q->Bind(1, job.id)
      .Bind(2, job.model)
      .Bind(3, job.request.dump())
      .Bind(4, job.state)
      .Bind(5, static_cast<int64_t>(job.bytes_done))
      .Bind(6, total);
  if (job.error.empty()) {
    q->BindNull(7);
  } else {
    q->Bind(7, job.error);
  }
  q->Bind(8, now)
      .Bind(9, static_cast<int64_t>(job.interrupted_runs))
      .Bind(10, static_cast<int64_t>(job.run_start_bytes));
  return q->Run();
}

Result<JobRecord> GetJobRow(Db& db, const std::string& id) {
  auto q = db.Prepare(std::string(kJobColumns) + "WHERE id=?1");
  if (!q.has_value()) {
    return q.error();
  }
  auto r = q->Bind(1, id).Step();
  if (!r.has_value()) {
    return r.error();
  }
  if (!*r) {
    return Status::NotFound("no download job '" + id + "'");
  }
  return ReadJob(*q);
}

Result<std::vector<JobRecord>> ListJobRows(Db& db, bool unfinished_only) {
  auto q =
      db.Prepare(std::string(kJobColumns) +
                 (unfinished_only ? "WHERE state NOT IN ('completed','failed','cancelled') " : "") +
                 "ORDER BY created_at, seq");
  if (!q.has_value()) {
    return q.error();
  }
  std::vector<JobRecord> out;
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) {
      return r.error();
    }
    if (!*r) {
      break;
    }
    out.push_back(ReadJob(*q));
  }
  return out;
}

Status DeleteJobRow(Db& db, const std::string& id) {
  auto q = db.Prepare("DELETE FROM jobs WHERE id=?1");
  if (!q.has_value()) {
    return q.error();
  }
  return q->Bind(1, id).Run();
}

}  // namespace modeld::store
