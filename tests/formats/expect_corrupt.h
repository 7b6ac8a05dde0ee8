// The check every reader test makes of a refusal: a Corrupt status (not a throw, not
// another code) whose message contains each of |parts| (the file's name, what is wrong).
//
// Thread safety: one test's.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "core/status.h"

namespace modeld::testing {

template <typename T>
void ExpectCorrupt(const Result<T>& r, std::initializer_list<std::string_view> parts,
                   std::string_view input = "") {
  ASSERT_FALSE(r.has_value()) << "accepted " << input;
  EXPECT_EQ(r.error().code(), Status::Code::kCorrupt) << r.error().ToString();
  for (std::string_view part : parts) {
    EXPECT_NE(r.error().message().find(part), std::string::npos)
        << "'" << part << "' not in: " << r.error().message();
  }
}

}  // namespace modeld::testing
