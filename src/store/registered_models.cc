#include "store/registered_models.h"

#include "core/json.h"

namespace modeld::store {

namespace {

constexpr const char* kColumns =
    "SELECT ref, custom, target, recorded, fields, created_at, updated_at FROM registered_models ";

// |text| as a JSON object; an empty object when it is not one.
nlohmann::json ObjectOrEmpty(const std::string& text) {
  nlohmann::json j = ParseJsonOrDiscarded(text);
  return j.is_object() ? j : nlohmann::json::object();
}

RegisteredModel ReadRow(const Stmt& q) {
  RegisteredModel m;
  m.ref = q.Text(0);
  m.custom = q.Int(1) != 0;
  m.target = q.Text(2);
  m.recorded = ObjectOrEmpty(q.Text(3));
  m.fields = ObjectOrEmpty(q.Text(4));
  m.created_at = q.Int(5);
  m.updated_at = q.Int(6);
  return m;
}

}  // namespace

Status PutRegisteredRow(Db& db, const RegisteredModel& m, int64_t now) {
  if (m.ref.empty()) return Status::InvalidArgument("a registered model needs a reference");
  auto q = db.Prepare(
      "INSERT INTO registered_models(ref, custom, target, recorded, fields, created_at, "
      "updated_at) VALUES (?1,?2,?3,?4,?5,?6,?6) ON CONFLICT(ref) DO UPDATE SET "
      "custom=excluded.custom, target=excluded.target, recorded=excluded.recorded, "
      "fields=excluded.fields, updated_at=excluded.updated_at");
  if (!q.has_value()) return q.error();
  const nlohmann::json recorded = m.recorded.is_object() ? m.recorded : nlohmann::json::object();
  const nlohmann::json fields = m.fields.is_object() ? m.fields : nlohmann::json::object();
  return q->Bind(1, m.ref)
      .Bind(2, static_cast<int64_t>(m.custom ? 1 : 0))
      .Bind(3, m.target)
      .Bind(4, recorded.dump())
      .Bind(5, fields.dump())
      .Bind(6, now)
      .Run();
}

Result<std::optional<RegisteredModel>> GetRegisteredRow(Db& db, const std::string& ref) {
  auto q = db.Prepare(std::string(kColumns) + "WHERE ref=?1");
  if (!q.has_value()) return q.error();
  auto r = q->Bind(1, ref).Step();
  if (!r.has_value()) return r.error();
  if (!*r) return std::optional<RegisteredModel>();
  return std::optional<RegisteredModel>(ReadRow(*q));
}

Result<std::vector<RegisteredModel>> ListRegisteredRows(Db& db) {
  auto q = db.Prepare(std::string(kColumns) + "ORDER BY ref");
  if (!q.has_value()) return q.error();
  std::vector<RegisteredModel> out;
  for (;;) {
    auto r = q->Step();
    if (!r.has_value()) return r.error();
    if (!*r) break;
    out.push_back(ReadRow(*q));
  }
  return out;
}

Result<bool> DeleteRegisteredRow(Db& db, const std::string& ref) {
  auto q = db.Prepare("DELETE FROM registered_models WHERE ref=?1");
  if (!q.has_value()) return q.error();
  if (Status s = q->Bind(1, ref).Run(); !s.ok()) return s;
  return db.Changes() > 0;
}

}  // namespace modeld::store
