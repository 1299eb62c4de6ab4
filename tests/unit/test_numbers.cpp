// The one reader of decimal numbers that configuration, environment, command line, HTTP headers
// and the job store share (src/common/numbers.hpp): what it takes and what it refuses.
#include <gtest/gtest.h>

#include <cstdint>
#include <string_view>

#include "common/numbers.hpp"

namespace {

using opendo::numbers::parse_whole;
using opendo::numbers::take_number;

TEST(ParseWhole, ReadsAWholeDecimalNumber) {
  EXPECT_EQ(parse_whole<std::uint64_t>("0"), 0U);
  EXPECT_EQ(parse_whole<std::uint64_t>("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_whole<std::uint32_t>("4294967295"), UINT32_MAX);
  EXPECT_EQ(parse_whole<int>("-12"), -12);
  EXPECT_EQ(parse_whole<std::uint32_t>("800000FF", 16), 0x800000FFU);
}

TEST(ParseWhole, RefusesAnythingButDigits) {
  for (const std::string_view text : {"", " 1", "1 ", "+1", "1k", "0x10", "1.5", "-", "١"}) {
    EXPECT_FALSE(parse_whole<std::uint64_t>(text)) << '"' << text << '"';
  }
  EXPECT_FALSE(parse_whole<unsigned>("-1")) << "no sign for an unsigned type";
  EXPECT_FALSE(parse_whole<std::uint32_t>("0x10", 16)) << "the caller strips the prefix";
}

TEST(ParseWhole, RefusesWhatDoesNotFit) {
  EXPECT_FALSE(parse_whole<std::uint64_t>("18446744073709551616"));
  EXPECT_FALSE(parse_whole<std::uint32_t>("4294967296"));
  EXPECT_FALSE(parse_whole<int>("2147483648"));
  EXPECT_EQ(parse_whole<int>("-2147483648"), INT32_MIN);
}

TEST(TakeNumber, ConsumesTheLeadingNumberOnly) {
  std::string_view text = "100-199/1000";
  std::uint64_t value = 0;
  ASSERT_TRUE(take_number(text, value));
  EXPECT_EQ(value, 100U);
  EXPECT_EQ(text, "-199/1000");
}

TEST(TakeNumber, LeavesTextAloneWhenThereIsNoNumber) {
  for (const std::string_view original : {"", "-5", "x1", " 1"}) {
    std::string_view text = original;
    std::uint64_t value = 7;
    EXPECT_FALSE(take_number(text, value)) << '"' << original << '"';
    EXPECT_EQ(text, original);
  }
  std::string_view too_big = "99999999999999999999/1";
  std::uint64_t value = 0;
  EXPECT_FALSE(take_number(too_big, value));
  EXPECT_EQ(too_big, "99999999999999999999/1");
}

}  // namespace
