// BodyReader: a JSON request body read field by field, with errors that name the field
// ("Invalid parameter 'options.timeout': must be between 1 and 604800"). Every dialect
// reads its bodies through it, so none parses JSON without the nesting bound (core/json.h)
// and none lets a wrong type throw.
//
// Thread safety: one reader per request.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace modeld::api {

class BodyReader {
 public:
  // InvalidArgument "Invalid JSON body: ..." for malformed or too deeply nested JSON, or
  // a body that is not an object. An empty body reads as {} when |empty_is_object|.
  static Result<BodyReader> Parse(std::string_view body, bool empty_is_object = false);
  // Reads the object |j|; field names are reported with |prefix| ("options.").
  BodyReader(const nlohmann::json& j, std::string prefix);

  const nlohmann::json& json() const { return *j_; }
  bool Has(const std::string& key) const;

  // Each reader leaves |*out| alone when the field is absent or null (then, if
  // |required|, records an error) and records an error when the type is wrong. They
  // return whether all is well so far; error() says what went wrong first.
  bool Str(const std::string& key, std::string* out, bool required = false);
  bool Bool(const std::string& key, bool* out);
  bool Int(const std::string& key, int64_t min, int64_t max, int64_t* out);
  // A string or a list of strings, appended to |*out|.
  bool StrList(const std::string& key, std::vector<std::string>* out, std::string_view what);
  // A nested object, as a reader with this field's prefix; nullopt when absent or null.
  std::optional<BodyReader> Object(const std::string& key);

  // The first error, InvalidArgument; OK if none.
  const Status& error() const { return error_; }
  bool ok() const { return error_.ok(); }
  // Records |message| about |key| unless an error is already recorded; returns false.
  bool Fail(const std::string& key, const std::string& message);

 private:
  const nlohmann::json* Field(const std::string& key) const;  // null: absent or null
  std::shared_ptr<const nlohmann::json> owned_;
  const nlohmann::json* j_;
  std::string prefix_;
  Status error_;
};

// An Ollama-style "keep_alive" value (service::ParseKeepAlive): a number of seconds or a
// duration string; nullopt for null. InvalidArgument "Invalid parameter 'keep_alive': ...".
Result<std::optional<std::chrono::milliseconds>> ReadKeepAlive(const nlohmann::json& value);

}  // namespace modeld::api
