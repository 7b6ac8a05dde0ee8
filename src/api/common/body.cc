#include "api/common/body.h"

#include <algorithm>
#include <cmath>

#include "core/json.h"
#include "service/types.h"

namespace modeld::api {

Result<BodyReader> BodyReader::Parse(std::string_view body, bool empty_is_object) {
  auto owned = std::make_shared<nlohmann::json>();
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos && empty_is_object) {
    *owned = nlohmann::json::object();
  } else {
    auto parsed = ParseJson(body, "Invalid JSON body");
    if (!parsed.has_value()) return parsed.error();
    *owned = std::move(parsed.value());
  }
  if (!owned->is_object())
    return Status::InvalidArgument("Invalid JSON body: the body must be a JSON object");
  BodyReader r(*owned, "");
  r.owned_ = owned;
  return r;
}

BodyReader::BodyReader(const nlohmann::json& j, std::string prefix)
    : j_(&j), prefix_(std::move(prefix)) {}

bool BodyReader::Has(const std::string& key) const { return Field(key) != nullptr; }

const nlohmann::json* BodyReader::Field(const std::string& key) const {
  if (!j_->is_object()) return nullptr;
  auto it = j_->find(key);
  if (it == j_->end() || it->is_null()) return nullptr;
  return &*it;
}

bool BodyReader::Fail(const std::string& key, const std::string& message) {
  if (error_.ok())
    error_ = Status::InvalidArgument("Invalid parameter '" + prefix_ + key + "': " + message);
  return false;
}

bool BodyReader::Str(const std::string& key, std::string* out, bool required) {
  const auto* v = Field(key);
  if (!v) return required ? Fail(key, "required") : ok();
  if (!v->is_string()) return Fail(key, "must be a string");
  *out = v->get<std::string>();
  return ok();
}

bool BodyReader::Bool(const std::string& key, bool* out) {
  const auto* v = Field(key);
  if (!v) return ok();
  if (!v->is_boolean()) return Fail(key, "must be a boolean");
  *out = v->get<bool>();
  return ok();
}

bool BodyReader::Int(const std::string& key, int64_t min, int64_t max, int64_t* out) {
  const auto* v = Field(key);
  if (!v) return ok();
  if (!v->is_number_integer()) return Fail(key, "must be an integer");
  // An unsigned value past int64 reads as negative: compare as unsigned first.
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    return Fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  int64_t n = v->get<int64_t>();
  if (n < min || n > max) {
    return Fail(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  *out = n;
  return ok();
}

bool BodyReader::StrList(const std::string& key, std::vector<std::string>* out,
                         std::string_view what) {
  const auto* v = Field(key);
  if (!v) return ok();
  if (v->is_string()) {
    out->push_back(v->get<std::string>());
    return ok();
  }
  bool list = v->is_array() &&
              std::all_of(v->begin(), v->end(), [](const auto& e) { return e.is_string(); });
  if (!list) return Fail(key, "must be a list of " + std::string(what));
  for (const auto& e : *v) out->push_back(e.get<std::string>());
  return ok();
}

std::optional<BodyReader> BodyReader::Object(const std::string& key) {
  const auto* v = Field(key);
  if (!v) return std::nullopt;
  if (!v->is_object()) {
    Fail(key, "must be an object");
    return std::nullopt;
  }
  return BodyReader(*v, prefix_ + key + ".");
}

Result<std::optional<std::chrono::milliseconds>> ReadKeepAlive(const nlohmann::json& k) {
  Result<std::chrono::milliseconds> keep = std::chrono::milliseconds(0);
  if (k.is_null()) return std::optional<std::chrono::milliseconds>();
  if (k.is_number()) {
    double secs = k.get<double>();
    if (!std::isfinite(secs) || std::abs(secs) > 1e12) {
      return Status::InvalidArgument("Invalid parameter 'keep_alive': out of range");
    }
    keep = service::ParseKeepAlive(std::to_string(secs));
  } else if (k.is_string()) {
    keep = service::ParseKeepAlive(k.get<std::string>());
  } else {
    return Status::InvalidArgument(
        "Invalid parameter 'keep_alive': must be a number of seconds or a duration string");
  }
  if (!keep.has_value()) {
    return Status::InvalidArgument("Invalid parameter 'keep_alive': " + keep.error().message());
  }
  return std::optional<std::chrono::milliseconds>(*keep);
}

}  // namespace modeld::api
