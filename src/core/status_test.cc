#include "core/status.h"

#include <gtest/gtest.h>

namespace modeld {
namespace {

TEST(StatusTest, InfoTravelsWithContextAndCopies) {
  Status s = Status::NotFound("not found: http://h/x (HTTP 404)")
                 .WithInfo({"HTTP_STATUS", {{"url", "http://h/x"}, {"status", "404"}}});
  ASSERT_NE(s.info(), nullptr);
  Status wrapped = s.WithContext("Model 'x' not found");
  EXPECT_EQ(wrapped.message(), "Model 'x' not found: not found: http://h/x (HTTP 404)");
  EXPECT_EQ(wrapped.code(), Status::Code::kNotFound);
  ASSERT_NE(wrapped.info(), nullptr);
  EXPECT_EQ(wrapped.info()->reason, "HTTP_STATUS");
  EXPECT_EQ(wrapped.info()->Get("url"), "http://h/x");
  EXPECT_EQ(wrapped.info()->Get("missing"), "");
  Status copy = wrapped;
  EXPECT_EQ(copy.info()->Get("status"), "404");
  EXPECT_EQ(s.WithContext("x").message(), "x: not found: http://h/x (HTTP 404)");
}

// What a server writes as "error_code", a client reads back as the same code.
TEST(StatusTest, CodeNamesReadBack) {
  for (int c = 0; c <= static_cast<int>(Status::Code::kFailedPrecondition); ++c) {
    auto code = static_cast<Status::Code>(c);
    EXPECT_EQ(Status::CodeFromName(Status::CodeName(code)), code) << Status::CodeName(code);
  }
  EXPECT_EQ(Status::CodeFromName("Unknown"), std::nullopt);
  EXPECT_EQ(Status::CodeFromName("nospace"), std::nullopt) << "names are exact";
  EXPECT_EQ(Status::CodeFromName(""), std::nullopt);
}

TEST(StatusTest, NoInfoUnlessGivenAndOkStaysOk) {
  EXPECT_EQ(Status::Corrupt("x").info(), nullptr);
  EXPECT_EQ(Status::Corrupt("x").WithContext("y").info(), nullptr);
  Status ok = Status::OK().WithInfo({"HTTP_STATUS", {}});
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.info(), nullptr);
  EXPECT_EQ(Status::FromCode(Status::Code::kNotFound, "m").info(), nullptr);
}

}  // namespace
}  // namespace modeld
