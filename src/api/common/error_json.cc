#include "api/common/error_json.h"

#include "core/redact.h"

namespace modeld::api {

void AddErrorCode(nlohmann::json& j, const Status& s) {
  j["error_code"] = Status::CodeName(s.code());
  if (const Status::Info* info = s.info()) {
    nlohmann::json detail = {{"reason", info->reason}};
    for (const auto& [k, v] : info->fields) detail[k] = RedactText(v);
    j["error_detail"] = std::move(detail);
  }
}

}  // namespace modeld::api
