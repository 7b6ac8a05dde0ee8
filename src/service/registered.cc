// ModelService's registered models (model_service.h): custom models a client created, and
// installed models whose files were removed with their entry kept.
#include "core/log.h"
#include "service/model_service.h"
#include "service/recorded_request.h"
#include "store/store.h"

namespace modeld::service {

namespace {

RegisteredModel FromRow(const store::RegisteredModel& row) {
  RegisteredModel m;
  auto ref = ParseModelRef(row.ref);
  if (ref.has_value()) m.ref = *ref;
  m.custom = row.custom;
  m.target = row.target;
  m.has_recorded_source = !row.recorded.empty();
  m.fields = row.fields;
  m.created_at = row.created_at;
  m.updated_at = row.updated_at;
  return m;
}

Status CheckRef(const ModelRef& ref) {
  if (Status s = ValidateModelName(ref.name); !s.ok()) return s;
  return ValidateVersion(ref.version);
}

}  // namespace

Result<std::vector<RegisteredModel>> ModelService::Registered() {
  auto rows = store_->ListRegisteredModels();
  if (!rows.has_value()) return rows.error();
  std::vector<RegisteredModel> out;
  for (const auto& row : *rows) {
    RegisteredModel m = FromRow(row);
    if (m.ref.name.empty()) continue;  // a row written by hand with a bad ref
    out.push_back(std::move(m));
  }
  return out;
}

Result<RegisteredModel> ModelService::GetRegistered(const ModelRef& ref) {
  auto row = store_->GetRegisteredModel(ref);
  if (!row.has_value()) return row.error();
  if (!row->has_value()) {
    return Status::NotFound("model '" + ref.ToString() + "' is not registered");
  }
  return FromRow(**row);
}

Result<RegisteredModel> ModelService::CreateCustom(const ModelRef& ref, const std::string& target,
                                                   const nlohmann::json& fields) {
  if (Status s = CheckRef(ref); !s.ok()) return s;
  if (!fields.is_object() && !fields.is_null()) {
    return Status::InvalidArgument("a model's fields are a JSON object");
  }
  store::RegisteredModel row;
  row.ref = ref.ToString();
  row.custom = true;
  row.target = target;
  row.fields = fields.is_null() ? nlohmann::json::object() : fields;
  // The target must be something a pull understands, now rather than at download time.
  if (auto req = PullRequestFor(FromRow(row)); !req.has_value()) return req.error();
  auto existing = store_->GetRegisteredModel(ref);
  if (!existing.has_value()) return existing.error();
  if (existing->has_value()) {
    return Status::AlreadyExists("model '" + row.ref + "' is registered already");
  }
  if (auto installed = store_->Get(ref); installed.has_value()) {
    return Status::AlreadyExists("model '" + row.ref + "' is installed already");
  } else if (installed.error().code() != Status::Code::kNotFound) {
    return installed.error();
  }
  if (Status s = store_->PutRegisteredModel(row); !s.ok()) return s;
  return GetRegistered(ref);
}

Result<RegisteredModel> ModelService::UpdateCustom(const ModelRef& ref,
                                                   const nlohmann::json& fields,
                                                   const std::optional<std::string>& target) {
  if (Status s = CheckRef(ref); !s.ok()) return s;
  if (!fields.is_object() && !fields.is_null()) {
    return Status::InvalidArgument("a model's fields are a JSON object");
  }
  auto row = store_->GetRegisteredModel(ref);
  if (!row.has_value()) return row.error();
  if (!row->has_value()) {
    auto installed = store_->Get(ref);
    if (!installed.has_value()) return installed.error();  // NotFound: no such model
  }
  if (!row->has_value() || !(*row)->custom) {
    return Status::FailedPrecondition("model '" + ref.ToString() +
                                      "' was not created as a custom model: it cannot be changed");
  }
  store::RegisteredModel updated = **row;
  updated.fields = fields.is_null() ? nlohmann::json::object() : fields;
  if (target) {
    updated.target = *target;
    if (auto req = PullRequestFor(FromRow(updated)); !req.has_value()) return req.error();
  }
  if (Status s = store_->PutRegisteredModel(updated); !s.ok()) return s;
  return GetRegistered(ref);
}

Result<RemoveReport> ModelService::RemoveFilesKeepEntry(const ModelRef& ref,
                                                        const CleanupOptions& options) {
  if (Status s = CheckRef(ref); !s.ok()) return s;
  auto installed = store_->Get(ref);
  if (!installed.has_value()) return installed.error();
  auto row = store_->GetRegisteredModel(ref);
  if (!row.has_value()) return row.error();
  // Kept first: a crash between the two leaves an entry that can download it again.
  store::RegisteredModel kept = row->has_value() ? **row : store::RegisteredModel{};
  kept.ref = ref.ToString();
  kept.recorded = {{"source", installed->source}, {"metadata", installed->metadata}};
  if (Status s = store_->PutRegisteredModel(kept); !s.ok()) return s;
  return Remove(ref.name, ref.version, options);
}

Result<bool> ModelService::Unregister(const ModelRef& ref) {
  return store_->DeleteRegisteredModel(ref);
}

Result<PullRequest> ModelService::PullRequestFor(const RegisteredModel& m) {
  PullRequest req;
  if (!m.target.empty()) {
    if (Status s = ParsePullTarget(m.target, m.ref.ToString(), &req); !s.ok()) return s;
    return req;
  }
  if (Status s = ParsePullTarget(m.ref.ToString(), "", &req); !s.ok()) return s;
  if (!m.has_recorded_source) return req;
  auto row = store_->GetRegisteredModel(m.ref);
  if (!row.has_value()) return row.error();
  if (!row->has_value()) return req;
  // Pulled again from where it came from, as a repair by name is (recorded_request.h).
  store::ModelInfo was;
  was.ref = m.ref;
  const nlohmann::json& recorded = (*row)->recorded;
  if (auto it = recorded.find("source"); it != recorded.end() && it->is_string()) {
    was.source = it->get<std::string>();
  }
  if (auto it = recorded.find("metadata"); it != recorded.end()) was.metadata = *it;
  return FromRecordedSource(req, was);
}

}  // namespace modeld::service
