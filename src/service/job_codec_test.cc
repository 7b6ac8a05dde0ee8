#include "service/job_codec.h"

#include <gtest/gtest.h>

namespace modeld::service {
namespace {

TEST(JobCodecTest, ARequestReadsBackAsWritten) {
  PullRequest r;
  r.ref = {"m", "v1"};
  r.url = "https://h/m.bin";
  r.options.buffer_size = 1 << 20;
  r.options.stall_timeout = std::chrono::seconds(9);
  auto back = PullRequestFromJson(PullRequestToJson(r, -7), nullptr);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  int priority = 0;
  back = PullRequestFromJson(PullRequestToJson(r, -7), &priority);
  EXPECT_EQ(priority, -7);
  EXPECT_EQ(PullRequestToJson(*back, -7), PullRequestToJson(r, -7));
}

// Regression (fuzz/job_record_fuzz.cc, UBSan float-cast-overflow): "priority" and the
// numeric options were read with value<int>/value<int64_t>/value<size_t>, converting a
// float that does not fit (1e300, or 18446744073709551616, which parses as a double) with
// undefined behaviour, and wrapping -1 into a huge buffer size. A record holding a number
// that is not an integer of the field's range is damaged (Corrupt), like one of the wrong type.
TEST(JobCodecTest, NumbersThatDoNotFitMakeTheRecordCorrupt) {
  PullRequest r;
  r.ref = {"m", "v1"};
  const nlohmann::json good = PullRequestToJson(r, 3);
  auto with = [&](const nlohmann::json::json_pointer& at, nlohmann::json value) {
    nlohmann::json j = good;
    j[at] = std::move(value);
    return j;
  };
  using P = nlohmann::json::json_pointer;
  for (const auto& bad : {
           with(P("/priority"), 1e300),
           with(P("/priority"), 1.5),
           with(P("/priority"), 4294967296u),
           with(P("/priority"), nlohmann::json::parse("18446744073709551616")),
           with(P("/options/max_connections"), 1e300),
           with(P("/options/retry_count"), -1e300),
           with(P("/options/buffer_size"), -1),
           with(P("/options/buffer_size"), 2.5),
           with(P("/options/stall_timeout_ms"), 1e300),
           with(P("/options/connect_timeout_ms"), "30000"),
           with(P("/options/progress_timeout_ms"), nullptr),
           with(P("/options"), nlohmann::json::array()),
       }) {
    int priority = -1;
    auto back = PullRequestFromJson(bad, &priority);
    ASSERT_FALSE(back.has_value()) << bad.dump();
    EXPECT_EQ(back.error().code(), Status::Code::kCorrupt) << bad.dump();
  }
  // Integers in range still read, negative ones included where the type allows them.
  int priority = 0;
  auto back = PullRequestFromJson(with(P("/priority"), -2147483648LL), &priority);
  ASSERT_TRUE(back.has_value()) << back.error().ToString();
  EXPECT_EQ(priority, -2147483647 - 1);
}

}  // namespace
}  // namespace modeld::service
